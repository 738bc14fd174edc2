"""`python -m tobs_tui` runs the same entry point as the `tobs-tui` command."""

from tobs_tui.entry import main

raise SystemExit(main())
