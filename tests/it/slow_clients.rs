//! Slow and idle clients are closed; other clients are served meanwhile.
