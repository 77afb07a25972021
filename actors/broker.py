"""The broker, chosen once from the environment before any actor is declared.

``REDIS_URL`` set → ``RedisBroker`` (namespace ``SEOBATCH_REDIS_NAMESPACE``), otherwise
an in-process ``StubBroker``. Dramatiq binds actors to the broker when their module is
imported, so ``actors/__init__.py`` imports this module first.

``use_in_process(settings)`` moves every actor to a fresh in-process broker: the demo,
``seobatch run --wait`` without Redis, and the tests use it.
"""

from __future__ import annotations

import logging

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from seobatch.config import Settings
from seobatch.db import describe_url
from seobatch.errors import ConfigError

from . import metrics
from .middleware import DbConnections, WorkerBoot
from .runtime import runtime

log = logging.getLogger("seobatch.worker")

#: The queue every seobatch actor uses (``dramatiq actors`` listens to it).
QUEUE = "seobatch"


def build_broker(settings: Settings, *, in_process: bool = False) -> dramatiq.Broker:
    """A broker with seobatch's middleware: Redis when configured, else in-process."""
    if settings.redis_url and not in_process:
        broker: dramatiq.Broker = RedisBroker(
            url=settings.redis_url,
            namespace=settings.redis_namespace,
            # How soon a killed worker's unacked messages are delivered again.
            heartbeat_timeout=settings.redis_heartbeat_ms,
            maintenance_chance=settings.redis_maintenance_chance,
        )
        warn_if_redis_evicts(settings.redis_url)
        # Dramatiq's and the job metrics on dramatiq_prom_port; a worker warns at boot without them.
        metrics.install(broker, quiet=True)
    else:
        broker = StubBroker()
    broker.add_middleware(WorkerBoot(runtime))
    broker.add_middleware(DbConnections())
    return broker


def check_reachable(settings: Settings) -> None:
    """Raise a one-line ConfigError when ``REDIS_URL`` is set but Redis does not answer:
    called before anything is written, so an unreachable broker leaves no orphan job."""
    if not settings.redis_url:
        return
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"cannot reach Redis at {describe_url(settings.redis_url)}: {first}") from None
    finally:
        client.close()


def warn_if_redis_evicts(url: str) -> str | None:
    """Warn when Redis may evict keys under memory pressure: queued messages would vanish
    silently. Returns the policy seen (None when Redis refused to say or is unreachable;
    managed Redis often disables CONFIG)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
    except redis.RedisError as exc:
        log.debug("could not read Redis maxmemory-policy: %s", type(exc).__name__)
        return None
    finally:
        client.close()
    if isinstance(policy, bytes):
        policy = policy.decode()
    if policy and policy != "noeviction":
        log.warning(
            "Redis maxmemory-policy is %s, not noeviction: under memory pressure Redis will "
            "evict queued messages silently; set `maxmemory-policy noeviction`", policy,
        )
    return policy


broker = build_broker(runtime.settings)
dramatiq.set_broker(broker)
if isinstance(broker, StubBroker):
    broker.emit_after("process_boot")


def use_in_process(settings: Settings) -> StubBroker:
    """Rebind every actor to a new in-process broker and run them with ``settings``."""
    global broker
    old = dramatiq.get_broker()
    runtime.settings = settings
    stub = build_broker(settings, in_process=True)
    assert isinstance(stub, StubBroker)
    stub.emit_after("process_boot")
    for name in sorted(old.get_declared_actors()):
        actor = old.get_actor(name)
        actor.broker = stub
        stub.declare_actor(actor)
    dramatiq.set_broker(stub)
    broker = stub
    return stub
