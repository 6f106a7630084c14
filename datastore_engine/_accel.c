/* Optional compiled accelerator: the common case of document validation.
 *
 * plain_json(value, max_depth) answers one question: is ``value`` made only
 * of exact ``dict`` (with exact ``str`` keys), exact ``list``, exact ``str``,
 * ``bool``, ``None``, exact ``int`` in signed 64 bits and exact finite
 * ``float``, nested no deeper than ``max_depth``?  True means the value is
 * storable JSON, exactly as codec._check would accept it.  False means "not
 * sure": the value may hold subclasses (which codec._check accepts) or may be
 * invalid; the caller then runs the pure-Python check, which decides and words
 * the error.  So this module never raises a validation error of its own and
 * the messages users see come from one place.
 *
 * Nothing here runs Python code (no __hash__, __eq__ or __index__ of user
 * types: only exact built-in types are looked into), so the containers cannot
 * change while they are walked.  Recursion is bounded by HARD_DEPTH whatever
 * max_depth says; deeper values answer False and go to the Python check.
 *
 * Measured on this project's bench document (~0.8 KB, 20-odd fields):
 * codec._check ~3 us, this ~0.3 us (docs/performance.md).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

#define HARD_DEPTH 512

static int
plain(PyObject *v, long depth, long max_depth)
{
    PyTypeObject *t = Py_TYPE(v);
    if (t == &PyUnicode_Type || v == Py_None || t == &PyBool_Type) {
        return 1;
    }
    if (t == &PyLong_Type) {
        int overflow = 0;
        (void)PyLong_AsLongLongAndOverflow(v, &overflow);
        return overflow == 0;
    }
    if (t == &PyFloat_Type) {
        return isfinite(PyFloat_AS_DOUBLE(v)) ? 1 : 0;
    }
    if (t == &PyDict_Type) {
        if (depth >= max_depth) {
            return 0;
        }
        Py_ssize_t pos = 0;
        PyObject *key, *item;
        while (PyDict_Next(v, &pos, &key, &item)) {
            if (Py_TYPE(key) != &PyUnicode_Type || !plain(item, depth + 1, max_depth)) {
                return 0;
            }
        }
        return 1;
    }
    if (t == &PyList_Type) {
        if (depth >= max_depth) {
            return 0;
        }
        Py_ssize_t n = PyList_GET_SIZE(v);
        for (Py_ssize_t i = 0; i < n; i++) {
            if (!plain(PyList_GET_ITEM(v, i), depth + 1, max_depth)) {
                return 0;
            }
        }
        return 1;
    }
    return 0;
}

static PyObject *
plain_json(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "plain_json() takes 2 arguments (value, max_depth), got %zd", nargs);
        return NULL;
    }
    long max_depth = PyLong_AsLong(args[1]);
    if (max_depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (max_depth > HARD_DEPTH) {
        max_depth = HARD_DEPTH;  /* deeper values answer False: the Python check decides */
    }
    if (plain(args[0], 0, max_depth)) {
        Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static PyMethodDef methods[] = {
    {"plain_json", (PyCFunction)(void (*)(void))plain_json, METH_FASTCALL,
     "plain_json(value, max_depth, /) -> bool\n\n"
     "True if value is storable JSON made only of exact built-in types;\n"
     "False if not, or not sure (the pure-Python check decides)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "datastore_engine._accel",
    "Optional compiled fast path of document validation (see codec.py).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__accel(void)
{
    return PyModule_Create(&module);
}
