"""The dedupe actor on the session's Ray cluster, and the factory choosing Redis or it."""

from __future__ import annotations

import ray

from actors import NAMESPACE
from actors.dedupe import DEDUPE_NAME, ActorDedupe, dedupe_handle, make_dedupe
from configs.settings import Settings
from core.storage.dedupe import RedisDedupe
from core.wait import apoll


async def test_dedupe_actor_claims_forgets_and_is_shared(ray_cluster) -> None:
    dedupe = await make_dedupe(Settings(redis_url=None))
    assert isinstance(dedupe, ActorDedupe)
    try:
        assert await dedupe.first_seen(["a", "b", "a"]) == [True, True, False]
        other = ActorDedupe(dedupe_handle())  # another caller finds the same named actor
        assert await other.first_seen(["a", "c"]) == [False, True]
        await other.forget(["a"])
        assert await dedupe.first_seen(["a"]) == [True]
        handle = ray.get_actor(DEDUPE_NAME, namespace=NAMESPACE)
        ray.kill(handle, no_restart=False)  # restarts empty: the database still dedupes
        # The kill lands asynchronously.
        await apoll(lambda: handle.size.remote(), until=lambda size: not size, timeout_s=30)
        assert await dedupe.first_seen(["b"]) == [True]
    finally:
        ray.kill(ray.get_actor(DEDUPE_NAME, namespace=NAMESPACE), no_restart=True)


async def test_make_dedupe_prefers_redis(redis_url: str) -> None:
    dedupe = await make_dedupe(Settings(redis_url=redis_url))
    assert isinstance(dedupe, RedisDedupe)
    fp = "factory-check"
    assert await dedupe.first_seen([fp]) == [True]
    assert await dedupe.first_seen([fp]) == [False]
    await dedupe.forget([fp])
