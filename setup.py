"""Build hook for the optional C accelerator; everything else is in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and the
engine runs its pure-Python validation (``datastore_engine.codec``).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "datastore_engine._accel",
            sources=["datastore_engine/_accel.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
