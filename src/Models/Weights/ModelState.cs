using TorchSharp;
using static TorchSharp.torch;

namespace PapaActors.Models.Weights;

/// <summary>
/// Reads and writes a module's whole state as <see cref="WeightSnapshot"/>s. It keeps the state-dict
/// tensors so capture, load and mix touch each value once. Not IDisposable, as it owns nothing: TorchSharp's
/// state_dict returns the module's own parameter and buffer tensors (no new handles), which the module disposes.
/// </summary>
public sealed class ModelState
{
    private readonly (WeightEntry Entry, long Offset, Tensor Tensor)[] _tensors;

    public ModelState(nn.Module module)
    {
        Layout = WeightLayout.Of(module);
        var live = module.state_dict();
        _tensors = Layout.Entries.Select((e, i) => (e, Layout.OffsetOf(i), live[e.Name])).ToArray();
    }

    public WeightLayout Layout { get; }

    /// <summary>A copy of the current state.</summary>
    public WeightSnapshot Capture()
    {
        var values = new float[Layout.TotalLength];
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var flat = from_array(values);
        foreach (var (entry, offset, tensor) in _tensors)
            flat.narrow(0, offset, entry.Length).copy_(tensor.reshape(-1));
        return WeightSnapshot.FromOwned(Layout, values);
    }

    /// <summary>Whether every parameter and float buffer is finite (no NaN or infinity); counters are integers.</summary>
    public bool IsFinite()
    {
        using var scope = NewDisposeScope();
        return _tensors.Where(t => t.Entry.Kind != WeightKind.Counter).All(t => t.Tensor.isfinite().all().item<bool>());
    }

    /// <summary>Replaces the whole state; a snapshot of another layout is rejected before anything is written.</summary>
    public void Load(WeightSnapshot snapshot) => Mix(snapshot, keep: 0);

    /// <summary>
    /// w &lt;- keep * w + (1 - keep) * other, in place, for parameters and float buffers. Counters
    /// (num_batches_tracked) keep the member's own value when keep &gt; 0 and are replaced when keep is 0.
    /// </summary>
    public void Mix(WeightSnapshot other, double keep)
    {
        if (keep is < 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(keep), keep, "keep must be in [0, 1]");
        Layout.EnsureMatches(other.Layout, "mixing weights");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var keepScalar = Scalars.Of(keep);
        using var otherScalar = Scalars.Of(1 - keep);
        var flat = other.View();
        foreach (var (entry, offset, tensor) in _tensors)
        {
            var source = flat.narrow(0, offset, entry.Length).view([.. entry.Shape]);
            if (keep == 0)
                tensor.copy_(source);
            else if (entry.Kind != WeightKind.Counter)
                tensor.mul_(keepScalar).add_(source.to(tensor.device), otherScalar);
        }
    }

    /// <summary>
    /// A mix computed from earlier weights <paramref name="measuredOn"/>, applied now as the same correction:
    /// w &lt;- w + (1 - keep) * (other - measuredOn). Counters keep the member's own value.
    /// </summary>
    public void MixLate(WeightSnapshot measuredOn, WeightSnapshot other, double keep)
    {
        if (keep is < 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(keep), keep, "keep must be in [0, 1]");
        Layout.EnsureMatches(other.Layout, "mixing weights");
        Layout.EnsureMatches(measuredOn.Layout, "the weights a mix was measured on");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var otherScalar = Scalars.Of(1 - keep);
        // A new tensor: the views share the snapshots' arrays, which other members read too.
        using var minusOne = Scalars.Of(-1.0);
        var correction = other.View().add(measuredOn.View(), minusOne);
        foreach (var (entry, offset, tensor) in _tensors)
        {
            if (entry.Kind != WeightKind.Counter)
                tensor.add_(correction.narrow(0, offset, entry.Length).view([.. entry.Shape]).to(tensor.device), otherScalar);
        }
    }
}
