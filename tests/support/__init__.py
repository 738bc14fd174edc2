"""What the test packages share: the settings builder, wait helpers, the emulator and runner fixtures, reading a
vault back, and the one way to start an export in a child process."""
