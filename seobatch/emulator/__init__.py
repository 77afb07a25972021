"""A local server that speaks the Anthropic Message Batches, Gemini Batch (+ Files) and
OpenAI Files + Batches APIs.

The official ``anthropic``, ``google-genai`` and ``openai`` SDKs work against it unchanged
(OpenAI's at ``base_url=emu.url + "/v1"``), and so do our own clients. Usage::

    with Emulator(processing_seconds=0.5) as emu:      # port 0: a free port
        emu.url                                         # http://127.0.0.1:54321
        emu.set_faults(error_rate=0.1, http_errors={"create": [429, 529]})
        ...
        emu.stats()["anthropic"]["batches_created"]     # "exactly one paid create"

Faults (``Faults`` fields; also ``POST /_emulator/faults`` and ``seobatch emulator`` flags):
item shares ``error_rate`` / ``expire_rate`` / ``malformed_rate``; scripted
``http_errors`` per operation (statuses, ``"hang"``, ``"drop"``, ``"spend_limit"``) with
``retry_after``; ``delay``; ``hang``; ``drop_create_response``; ``results_out_of_order``;
``truncate_results``; ``batch_outcome`` (expire / cancel / fail / stuck, next batch only);
``results_gone``; ``obey_injections``; ``openai_no_metadata`` / ``openai_no_response_format``
(a narrower compatible endpoint); ``gemini_cancel_ignored`` (a cancel that never lands).
Operations are named as in ``faults.ANTHROPIC_OPS``,
``faults.GEMINI_OPS`` and ``faults.OPENAI_OPS``; ``stats()`` counts every call under those names.
``advance(seconds)`` moves the emulator's clock so long batches end without waiting.
"""

from __future__ import annotations

from .app import Emulator
from .faults import Faults

__all__ = ["Emulator", "Faults"]
