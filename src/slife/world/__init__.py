"""slife.world: the synthetic shared world.

Procedurally generated, textured indoor (``kitchen``) and outdoor (``street``) places rendered
headless with OpenGL (EGL + Mesa llvmpipe): RGB, metric z-depth, camera-to-world poses and
intrinsics per frame, written in the life format. See docs/world.md.
"""

from typing import Any

from slife.world.config import GENERATOR_VERSION, WorldConfig


def __getattr__(name: str) -> Any:  # the families import the renderers' scene code (scipy): on first use
    if name in ("FAMILIES", "parse_life_name"):
        from slife.world import families

        return getattr(families, name)
    raise AttributeError(f"module 'slife.world' has no attribute {name!r}")

__all__ = ["FAMILIES", "GENERATOR_VERSION", "WorldConfig", "make_deadleaves", "make_diverse", "make_life", "make_nonlife", "make_screen",
           "make_static", "parse_life_name"]


def make_screen(*args, **kwargs):
    """See :func:`slife.world.screen.make_screen`."""
    from slife.world.screen import make_screen as _make_screen

    return _make_screen(*args, **kwargs)


def make_life(*args, **kwargs):
    """See :func:`slife.world.generate.make_life`."""
    from slife.world.generate import make_life as _make_life

    return _make_life(*args, **kwargs)


def make_diverse(*args, **kwargs):
    """See :func:`slife.world.generate.make_diverse`."""
    from slife.world.generate import make_diverse as _make_diverse

    return _make_diverse(*args, **kwargs)


def make_static(*args, **kwargs):
    """See :func:`slife.world.generate.make_static`."""
    from slife.world.generate import make_static as _make_static

    return _make_static(*args, **kwargs)


def make_deadleaves(*args, **kwargs):
    """See :func:`slife.world.deadleaves.make_deadleaves`."""
    from slife.world.deadleaves import make_deadleaves as _make_deadleaves

    return _make_deadleaves(*args, **kwargs)


def make_nonlife(*args, **kwargs):
    """Deprecated: see :func:`slife.world.generate.make_diverse`."""
    from slife.world.generate import make_nonlife as _make_nonlife

    return _make_nonlife(*args, **kwargs)
