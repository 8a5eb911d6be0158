//! The Python-visible boundary of `provocapi._core`, on one screen.

mod admission;
mod errors;
mod family;
mod json_depth;
mod relay;
mod routing;
mod spool_scan;
mod state;
mod tokens;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    relay::register(m)?;
    state::register(m)?;
    admission::register(m)?;
    tokens::register(m)?;
    routing::register(m)?;
    spool_scan::register(m)?;
    json_depth::register(m)?;
    Ok(())
}
