from mlcheck.cli import main

raise SystemExit(main())
