"""One file per widget; widgets draw engine data and never reach into the app."""
