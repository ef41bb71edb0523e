import sys

import keras

print("name", __name__, "argv", sys.argv[1:], "keras", keras.__name__)
sys.exit(int(sys.argv[1]))
