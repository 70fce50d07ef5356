"""HTTP endpoints, one router per feature. Routers translate HTTP <-> pipeline; no policy."""
