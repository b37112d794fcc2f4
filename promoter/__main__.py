from __future__ import annotations

from promoter.cli import main

raise SystemExit(main())
