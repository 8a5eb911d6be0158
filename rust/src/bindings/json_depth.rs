//! Python surface of `json_depth`: the request decoder's nesting guard.

use pyo3::prelude::*;

use crate::json_depth;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(json_depth_exceeds, m)?)?;
    Ok(())
}

/// See `_core.pyi`. Bodies are small (a large one is a few memchr passes): the GIL stays.
#[pyfunction]
fn json_depth_exceeds(text: &[u8], limit: usize) -> bool {
    json_depth::depth_exceeds(text, limit)
}
