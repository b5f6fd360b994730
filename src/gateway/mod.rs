//! The gateway client: HTTP adapter for every endpoint (issue 2).
