using static TorchSharp.torch;

namespace PapaActors.Models.Data;

/// <summary>
/// One member's stream of training batches: a fresh shuffle of the training split every epoch, seeded by
/// (run seed, member, epoch), so the batch of any global step can be recomputed. The last partial batch of
/// an epoch is dropped (a tiny batch would upset BatchNorm and the schedule's fixed steps per epoch).
/// </summary>
public sealed class MemberBatches(long trainCount, int batchSize, long seed, int member) : IDisposable
{
    private long _epochInCache = -1;
    private Tensor? _order;

    public int BatchSize { get; } = batchSize > 0 ? batchSize : throw new ArgumentOutOfRangeException(nameof(batchSize));
    public long StepsPerEpoch { get; } = StepsIn(trainCount, batchSize);

    public static long StepsIn(long trainCount, int batchSize) =>
        trainCount >= batchSize ? trainCount / batchSize
            : throw new ArgumentException($"the training split has {trainCount} samples, fewer than one batch of {batchSize}");

    /// <summary>The training-set indices of global step <paramref name="step"/> (0-based).</summary>
    public Tensor IndicesFor(long step)
    {
        var epoch = step / StepsPerEpoch;
        if (epoch != _epochInCache)
        {
            _order?.Dispose();
            using var generator = new Generator().manual_seed(Seeds.Derive(seed, Seeds.Stream.DataOrder, member, epoch));
            _order = randperm(trainCount, generator: generator).DetachFromDisposeScope();
            _epochInCache = epoch;
        }
        var start = (step % StepsPerEpoch) * BatchSize;
        return _order!.narrow(0, start, BatchSize);
    }

    public void Dispose() => _order?.Dispose();
}
