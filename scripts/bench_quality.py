#!/usr/bin/env python3
"""Micro benchmark of the quality gate: µs per reply over a few thousand realistic replies.

    .venv/bin/python scripts/bench_quality.py [--replies 3000] [--rounds 5] [--brand Northwind]

Pages are the demo's sample pages (English) plus pages in French, German, Spanish,
Russian and Japanese; replies are written the way a model writes them (the page's words,
a brand suffix, a sentence or two of its text), and a share of them (``--faulty``) carries
one fault each: another language, too wide, an invented price, artefacts, a placeholder,
stuffing. Each reply is judged ``--rounds`` times and its fastest time kept, in thread CPU
time (the machine is shared: the minimum CPU time is the figure least disturbed by other
processes; ``--wall`` for wall-clock time). ``parse_reply`` is timed on the same replies for
comparison.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from importlib import resources

from seobatch.output import parse_reply
from seobatch.quality import PageContext, QualityGate, QualityProfile, warm_up
from seobatch.text import html_to_text

PAGES = {
    "fr": [
        ("Chaussures de randonnée imperméables", "Nos chaussures de randonnée imperméables pour femme sont légères et "
         "confortables. La semelle adhérente tient sur les sentiers rocheux, la membrane respirante garde les pieds "
         "au sec et le col rembourré protège la cheville pendant les longues journées de marche en montagne."),
        ("Tente ultralégère pour deux personnes", "Une tente trois saisons pour deux personnes qui pèse 1,3 kg. Deux "
         "portes, deux absides, un double toit en nylon silicone et un montage rapide sous la pluie. Livrée avec "
         "piquets, haubans et sac de rangement."),
    ],
    "de": [
        ("Wasserdichte Wanderschuhe für Damen", "Unsere wasserdichten Wanderschuhe für Damen sind leicht und bequem. "
         "Die griffige Sohle hält auf felsigen Wegen, die atmungsaktive Membran hält die Füße trocken und der "
         "gepolsterte Schaft schützt den Knöchel auf langen Touren in den Bergen."),
        ("Ultraleichtes Zelt für zwei Personen", "Ein Dreijahreszeitenzelt für zwei Personen mit nur 1,3 kg Gewicht. "
         "Zwei Eingänge, zwei Apsiden, ein Außenzelt aus Silnylon und ein schneller Aufbau im Regen."),
    ],
    "es": [
        ("Botas de montaña impermeables para mujer", "Nuestras botas de montaña impermeables para mujer son ligeras y "
         "cómodas. La suela adherente agarra en senderos rocosos, la membrana transpirable mantiene los pies secos y "
         "el collarín acolchado protege el tobillo en las jornadas largas de montaña."),
    ],
    "ru": [
        ("Водонепроницаемые ботинки для походов", "Наши водонепроницаемые походные ботинки для женщин лёгкие и "
         "удобные. Цепкая подошва держит на каменистых тропах, дышащая мембрана сохраняет ноги сухими, а мягкий "
         "воротник защищает лодыжку в долгих горных походах."),
    ],
    "ja": [
        ("防水トレッキングシューズ", "軽量で快適な女性用の防水トレッキングシューズです"
                         "。グリップ力のあるソールが岩場の道でも滑りにくく、"
         "透湿防水メンブレンが足をドライに保ち、クッション入りの履き口が長い山歩きで足首を守ります。"),
    ],
}
ENGLISH_REPLY = ("Waterproof Hiking Boots for Women",
                 "Light waterproof hiking boots for women with a grippy sole and a padded collar, made for long days "
                 "on rocky trails in the mountains.")
FRENCH_REPLY = ("Chaussures de randonnée imperméables",
                "Des chaussures de randonnée légères et imperméables, avec une semelle adhérente, pour les longues "
                "journées sur les sentiers rocheux.")


def _sample_pages() -> list[tuple[str, str, str, str]]:
    """(language, url, title, text) for every page."""
    pages = []
    lines = resources.files("seobatch").joinpath("data", "sample_pages.jsonl").read_text(encoding="utf-8")
    for line in lines.splitlines():
        row = json.loads(line)
        pages.append((row.get("language") or "en", row["url"], row.get("title") or "",
                      html_to_text(row.get("content") or "")))
    for lang, rows in PAGES.items():
        for i, (title, text) in enumerate(rows):
            pages.append((lang, f"https://www.example.com/{lang}/{i}", title, text))
    return pages


def _reply(rng: random.Random, page: tuple[str, str, str, str], fault: str | None, brand: str) -> tuple[str, str]:
    lang, _, title, text = page
    sentences = [s.strip() for s in text.replace("。", "。\n").replace(". ", ".\n").splitlines() if s.strip()]
    head = title or (sentences[0][:50] if sentences else "Page")
    t = f"{head} | {brand}" if brand and rng.random() < 0.5 else head
    d = " ".join(sentences[:2])[:155].rsplit(" ", 1)[0] if lang != "ja" else "".join(sentences[:2])[:80]
    if len(d) < 60:
        d = (d + " " + " ".join(sentences[2:4]))[:150] or "A page of the Northwind Outdoor site about gear and trails."
    if fault == "language":
        t, d = FRENCH_REPLY if lang == "en" else ENGLISH_REPLY
    elif fault == "wide":
        t = f"{head}: Everything You Need to Know About Choosing, Fitting and Caring for It | {brand or 'Shop'}"
    elif fault == "price":
        t = f"{head} from $19.99"
    elif fault == "artefact":
        t = f'**Title:** "{head}" (48 characters)'
    elif fault == "placeholder":
        t = f"Home | {brand or 'Northwind'}"
    elif fault == "stuffing":
        t = "Boots, Hiking Boots, Waterproof Boots, Boots"
    return t, d


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--faulty", type=float, default=0.15, help="share of replies with one fault")
    parser.add_argument("--brand", default="Northwind Outdoor")
    parser.add_argument("--wall", dest="cpu", action="store_false", help="wall-clock time instead of thread CPU time")
    args = parser.parse_args(argv)
    rng = random.Random(12)
    pages = _sample_pages()
    gate = QualityGate(QualityProfile(brand=args.brand))
    warm_up()
    cases = []
    faults = ["language", "wide", "price", "artefact", "placeholder", "stuffing"]
    for _ in range(args.replies):
        sample = rng.choice(pages)
        fault = rng.choice(faults) if rng.random() < args.faulty else None
        t, d = _reply(rng, sample, fault, args.brand)
        lang, url, title, text = sample
        cases.append((fault, t, d, json.dumps({"title": t, "meta_description": d}), url, title, lang, text))

    gate_us: list[float] = []
    parse_us: list[float] = []
    actions: dict[str, int] = {}
    methods: dict[str, int] = {}
    # CPU time of this thread: time spent descheduled on a shared machine is not counted.
    clock = time.thread_time_ns if args.cpu else time.perf_counter_ns
    for fault, t, d, reply, url, title, lang, text in cases:
        best_gate = best_parse = float("inf")
        for _ in range(args.rounds):
            page = PageContext(url, title=title, language=lang, text=text)  # one per page, as the stage will
            start = clock()
            verdict = gate.judge(t, d, page)
            best_gate = min(best_gate, clock() - start)
            start = clock()
            try:
                parse_reply(reply, None, url, f"{title}\n{text}")
            except Exception:  # noqa: BLE001 - a reply over today's char limits; timed all the same
                pass
            best_parse = min(best_parse, clock() - start)
        gate_us.append(best_gate / 1000)
        parse_us.append(best_parse / 1000)
        key = f"{'typical' if fault is None else fault}:{verdict.action}"
        actions[key] = actions.get(key, 0) + 1
        methods[verdict.language_method] = methods.get(verdict.language_method, 0) + 1

    def summary(values: list[float]) -> str:
        q = statistics.quantiles(values, n=100)
        return f"mean {statistics.fmean(values):6.1f}  p50 {q[49]:6.1f}  p99 {q[98]:6.1f}"

    # The corpus in one loop, as the results stage runs it: the mean with warm caches.
    contexts = [PageContext(url, title=title, language=lang, text=text) for _, _, _, _, url, title, lang, text in cases]

    def loop_gate() -> None:
        for (_, t, d, *_rest), page in zip(cases, contexts, strict=False):
            gate.judge(t, d, page)

    def loop_parse() -> None:
        for _, _, _, reply, url, title, _, text in cases:
            try:
                parse_reply(reply, None, url, f"{title}\n{text}")
            except Exception:  # noqa: BLE001, S110 - timed all the same
                pass

    loops = {}
    for name, fn in (("gate", loop_gate), ("parse_reply", loop_parse)):
        best = float("inf")
        for _ in range(args.rounds):
            start = clock()
            fn()
            best = min(best, clock() - start)
        loops[name] = best / 1000 / len(cases)

    typical = [g for g, c in zip(gate_us, cases, strict=False) if c[0] is None]
    print(f"{len(cases)} replies over {len(pages)} pages, {args.rounds} rounds each (fastest kept), µs per reply")
    print(f"  gate, all replies      {summary(gate_us)}")
    print(f"  gate, typical replies  {summary(typical)}")
    print(f"  parse_reply            {summary(parse_us)}")
    print(f"  corpus in one loop     gate {loops['gate']:.1f} µs/reply, "
          f"parse_reply {loops['parse_reply']:.1f} µs/reply")
    print(f"  language settled by: {dict(sorted(methods.items()))}")
    print(f"  outcomes: {dict(sorted(actions.items()))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
