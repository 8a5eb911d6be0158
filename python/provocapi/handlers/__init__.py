"""One module per endpoint family; each exports async handlers (gateway, request)."""
