import sys

from wtal_tf.cli.main import main

sys.exit(main())
