"""RFC 2544 throughput search: the highest rate whose trial loses nothing (NDR), or no more
than a tolerated share (PDR), by binary search between 0 and the highest rate offered.

Pure: `trial(rate)` runs one trial at a rate (Mpps) and returns (sent, received)."""
import dataclasses


@dataclasses.dataclass
class Trial:
    rate: float
    sent: int
    received: int

    @property
    def loss(self):
        return (self.sent - self.received) / self.sent if self.sent else 1.0


@dataclasses.dataclass
class Search:
    rate: float      # the highest passing rate found (0: none passed)
    trials: list     # every trial in order


def search(trial, max_rate, tolerance=0.0, resolution=0.005, max_trials=24, floor=0.0):
    """Binary search for the highest rate with loss <= tolerance (a share: 0 for NDR, 0.001 for
    a PDR of 0.1%). Starts at max_rate (which passes if the system keeps up), then halves the
    interval until it is narrower than `resolution` * max_rate or max_trials ran out. `floor` is
    a rate known to pass (the PDR search starts from the NDR: what lost nothing passes any
    tolerance)."""
    if max_rate <= 0:
        raise ValueError("max_rate must be positive")
    if not 0 <= tolerance < 1:
        raise ValueError("tolerance is a share in [0, 1)")
    if not 0 <= floor <= max_rate:
        raise ValueError("floor must be within [0, max_rate]")
    lo, hi, rate = floor, max_rate, max_rate
    trials = []
    while len(trials) < max_trials:
        sent, received = trial(rate)
        t = Trial(rate, sent, received)
        trials.append(t)
        if t.loss <= tolerance:
            lo = rate
            if rate >= max_rate:
                break
        else:
            hi = rate
        if hi - lo <= resolution * max_rate:
            break
        rate = (lo + hi) / 2
    return Search(lo, trials)
