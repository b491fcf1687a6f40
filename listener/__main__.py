from listener.entry import main

raise SystemExit(main())
