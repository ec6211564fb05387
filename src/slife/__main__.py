from slife.cli import main

raise SystemExit(main())
