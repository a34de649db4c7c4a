"""Process-wide key -> object registry: the stand-in for H2O's distributed key store.

Frames and models register under their id (``frame_id`` / ``model_id``) so that
``h2o.ls()``, ``h2o.get_frame`` and ``h2o.remove`` can find them. Objects the user
created or named are held strongly until removed, like H2O keeps keys until
``h2o.remove``. Temporary frames (every intermediate result of an expression such as
``fr["a"] + 1``) are held weakly: H2O deletes those when the Python object dies, and
holding them strongly would keep every intermediate dask graph alive for the session.
"""
import threading
import weakref

_lock = threading.RLock()
_strong = {}
_weak = weakref.WeakValueDictionary()


def key_of(obj):
    """The registry key of a frame (``frame_id``), a model (``model_id``) or a grid
    (``grid_id``); a plain string is its own key."""
    if isinstance(obj, str):
        return obj
    for attr in ("frame_id", "model_id", "grid_id", "key"):
        key = getattr(obj, attr, None)
        if isinstance(key, str) and key:
            return key
    raise ValueError(f"cannot find the key of {type(obj).__name__}: it has no frame_id, "
                     "model_id or grid_id; pass the key string instead")


def register(obj, key=None, weak=False):
    """Store ``obj`` under ``key`` (default: its own id), replacing any object that
    had that key; ``weak=True`` for temporaries. Returns the key."""
    key = key_of(obj) if key is None else key
    with _lock:
        _strong.pop(key, None)
        _weak.pop(key, None)
        if weak:
            _weak[key] = obj
        else:
            _strong[key] = obj
    return key


def get(key):
    """The object registered under ``key``, or None."""
    with _lock:
        obj = _strong.get(key)
        return obj if obj is not None else _weak.get(key)


def remove(key_or_obj):
    """Forget a key (or an object's key, or each item of a list); True if something
    was removed."""
    if isinstance(key_or_obj, (list, tuple)):
        return any([remove(item) for item in key_or_obj])
    key = key_of(key_or_obj)
    with _lock:
        found = _strong.pop(key, None) is not None
        return (_weak.pop(key, None) is not None) or found


def rename(old_key, new_key, obj):
    """Move ``obj`` from ``old_key`` to ``new_key`` keeping its strength (used when a
    user sets ``frame.frame_id``); a renamed object becomes strongly held, as a named
    key in H2O survives until removed."""
    with _lock:
        if old_key is not None and get(old_key) is obj:
            _strong.pop(old_key, None)
            _weak.pop(old_key, None)
        register(obj, new_key, weak=False)


def keys():
    """All registered keys, sorted."""
    with _lock:
        return sorted(set(_strong) | set(_weak.keys()))


def clear():
    """Forget every key."""
    with _lock:
        _strong.clear()
        _weak.clear()
