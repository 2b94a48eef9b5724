"""ctypes mirrors of moeroute's public structs, built from the library's own description.

libmoeroute exports moeroute_struct_layout(name, &count, &size): each field's name, byte offset and kind.
struct_type() turns that into a ctypes.Structure and checks every offset and the size, so no binding keeps
a hand-written copy of a struct that could drift from the C header. Structs whose first field is
struct_size get it filled in by their constructor.

This module imports nothing from the package: the test suite and the benchmark load it by path.
"""

import ctypes

_KINDS = {1: ctypes.c_int32, 2: ctypes.c_int64, 3: ctypes.c_size_t, 4: ctypes.c_void_p, 5: ctypes.c_double}


class _Field(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("offset", ctypes.c_uint32), ("kind", ctypes.c_uint32)]


def struct_type(dll, name):
    """The ctypes.Structure for the public struct `name` of the loaded library `dll` (a ctypes.CDLL)."""
    fn = dll.moeroute_struct_layout
    fn.restype = ctypes.POINTER(_Field)
    fn.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)]
    count, size = ctypes.c_size_t(), ctypes.c_size_t()
    p = fn(name.encode("ascii"), ctypes.byref(count), ctypes.byref(size))
    if not p:
        raise LookupError("libmoeroute does not describe a struct named %r" % name)
    fields = [(p[i].name.decode("ascii"), _KINDS[p[i].kind]) for i in range(count.value)]
    ns = {"_fields_": fields}
    if fields and fields[0][0] == "struct_size":
        def __init__(self, *args, **kw):
            ctypes.Structure.__init__(self, *args, **kw)
            self.struct_size = ctypes.sizeof(self)
        ns["__init__"] = __init__
    cls = type(name, (ctypes.Structure,), ns)
    for i, (fname, _) in enumerate(fields):
        if getattr(cls, fname).offset != p[i].offset:
            raise RuntimeError("%s.%s: ctypes puts it at %d, the library at %d"
                               % (name, fname, getattr(cls, fname).offset, p[i].offset))
    if ctypes.sizeof(cls) != size.value:
        raise RuntimeError("%s: ctypes size %d, library size %d" % (name, ctypes.sizeof(cls), size.value))
    return cls

