//! The core's own exception types, so Python can tell a worker's garbage
//! from a bug in our code: `UpstreamFormatError` is the worker's fault (the
//! proxy answers 502), `CoreError` is ours (an argument our own code never
//! passes, a misuse of a binding: the gateway answers 500 and logs it).

use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

create_exception!(
    provocapi._core,
    CoreError,
    PyRuntimeError,
    "A bad argument to a binding or an internal failure of the core: a bug, never a worker's fault."
);

create_exception!(
    provocapi._core,
    UpstreamFormatError,
    PyValueError,
    "A worker's answer that its protocol does not allow (not JSON, missing fields, bad vectors)."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("CoreError", m.py().get_type::<CoreError>())?;
    m.add(
        "UpstreamFormatError",
        m.py().get_type::<UpstreamFormatError>(),
    )?;
    Ok(())
}
