from tui_gan.cli import main

raise SystemExit(main())
