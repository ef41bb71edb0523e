"""The VGG-like convnet of the Keras 1 documentation, trained data-parallel over MPI (Horovod-style).

The same file runs on one process or many:

    python examples/distributed_vgg.py                 # one process (mpi4py not needed)
    mpiexec -n 2 python examples/distributed_vgg.py    # two ranks on this machine
    mpiexec -f hosts -n 8 python examples/distributed_vgg.py   # eight ranks over the hosts listed

Each rank holds the whole model and trains on every size()-th digit; the gradients are averaged
over the ranks before each update. The 8x8 digits shipped with kerasette are upscaled to 32x32 so
that the architecture fits, as in ``examples/vgg_like.py``. Install MPI with
``pip install 'kerasette[mpi]'``.
"""

from __future__ import annotations

import argparse
import time
import warnings

# The data and the model are those of examples/vgg_like.py (this folder is on sys.path when a
# script in it runs, under mpiexec too).
from vgg_like import build_model, load_digits_32  # noqa: E402

import kerasette.backend as K
import kerasette.distributed as hvd
from kerasette.callbacks import ModelCheckpoint
from kerasette.optimizers import SGD


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32, help="samples per rank per step")
    parser.add_argument("--lr", type=float, default=0.025, help="learning rate for one process; "
                        "scaled by the number of ranks")
    parser.add_argument("--warmup-epochs", type=float, default=1.0)
    parser.add_argument("--samples", type=int, default=None, help="train on the first N digits only")
    parser.add_argument("--checkpoint", default=None, help="save the model here after each epoch "
                        "(rank 0 only)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> float:
    """Trains, evaluates on the test digits and returns the test accuracy."""
    args = parse_args()
    hvd.init()  # MPI, if launched by mpiexec; a world of one process otherwise
    warnings.simplefilter("ignore", DeprecationWarning)  # the Keras 1 names warn, by design
    K.set_image_data_format("channels_first")
    K.set_seed(args.seed + hvd.rank())  # own dropout masks per rank; the weights come from rank 0
    (x_train, y_train), (x_test, y_test) = load_digits_32()
    if args.samples:
        x_train, y_train = x_train[: args.samples], y_train[: args.samples]
    x, y = hvd.shard(x_train, y_train)  # this rank's digits: every size()-th one

    model = build_model()
    # the global batch is size() * batch_size, so the learning rate grows with it (Goyal et al.)
    opt = hvd.DistributedOptimizer(SGD(lr=args.lr * hvd.size(), decay=1e-6, momentum=0.9, nesterov=True))
    model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    callbacks = [hvd.callbacks.BroadcastGlobalVariablesCallback(0),  # start from rank 0's weights
                 hvd.callbacks.MetricAverageCallback(),  # epoch logs averaged over the ranks
                 hvd.callbacks.LearningRateWarmupCallback(warmup_epochs=args.warmup_epochs)]
    if hvd.rank() == 0:
        model.summary()
        print(f"{hvd.size()} rank(s) x {len(x)} digits each, batch {args.batch_size} per rank", flush=True)
        if args.checkpoint:
            callbacks.append(ModelCheckpoint(args.checkpoint))  # only rank 0 writes files

    start = time.perf_counter()
    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, callbacks=callbacks,
              verbose=1 if hvd.rank() == 0 else 0)
    took = time.perf_counter() - start
    seconds_in_allreduce = hvd.allreduce(opt.allreduce_timer.seconds, op=hvd.Max)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
    if hvd.rank() == 0:
        print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f} ({len(x_test)} digits); training took "
              f"{took:.1f} s ({args.epochs * len(x) * hvd.size() / took:.1f} samples/s, "
              f"{seconds_in_allreduce:.2f} s in allreduce)", flush=True)
    return accuracy


if __name__ == "__main__":
    main()
