using PapaActors.Models.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PapaActors.Models.Training;

/// <summary>
/// A parameter update rule stepped with an explicit learning rate. Hand-written (PyTorch's update rules, below)
/// because TorchSharp's optimizers build temporary Scalars inside step(), which race with the garbage collector
/// when several members train on separate threads (see <see cref="Scalars"/>).
/// </summary>
public interface IOptimizer : IDisposable
{
    void ZeroGrad();
    void Step(double learningRate);

    /// <summary>A copy of the optimizer's state under PyTorch-style names (`&lt;parameter&gt;.momentum_buffer`, ...).</summary>
    WeightSnapshot CaptureState();

    /// <summary>
    /// Replaces the state with a captured one; an empty layout means a fresh optimizer. A state whose names or
    /// shapes do not fit is rejected with a <see cref="WeightLayoutException"/> before anything changes.
    /// </summary>
    void RestoreState(WeightSnapshot state);

    /// <summary>An optimizer for a module's <c>named_parameters()</c>: the names label its state.</summary>
    public static IOptimizer Create(OptimizerSettings settings, IEnumerable<(string Name, Parameter Parameter)> parameters) => settings.Name switch
    {
        "sgd" => new Sgd(parameters, settings.Momentum, settings.WeightDecay, settings.Nesterov),
        "adamw" => new AdamW(parameters, settings.WeightDecay),
        _ => throw new ArgumentException($"unknown optimizer '{settings.Name}' (known: {string.Join(", ", OptimizerSettings.Names)})"),
    };
}

/// <summary>
/// torch.optim.SGD without dampening: d = g + wd * p; b = momentum * b + d (b = d on the first step);
/// d = nesterov ? d + momentum * b : b; p = p - lr * d.
/// Its state is one `&lt;parameter&gt;.momentum_buffer` entry per buffer that exists (as in PyTorch, a buffer
/// is created by the first step that sees its parameter's gradient), in parameter order.
/// </summary>
public sealed class Sgd : IOptimizer
{
    private readonly string[] _names;
    private readonly Parameter[] _parameters;
    private readonly Tensor?[] _momentumBuffers;
    private readonly Scalar _momentum;
    private readonly Scalar _weightDecay;
    private readonly bool _useMomentum;
    private readonly bool _useWeightDecay;
    private readonly bool _nesterov;

    public Sgd(IEnumerable<(string Name, Parameter Parameter)> parameters, double momentum, double weightDecay, bool nesterov)
    {
        var named = parameters.ToArray();
        _names = named.Select(p => p.Name).ToArray();
        _parameters = named.Select(p => p.Parameter).ToArray();
        _momentumBuffers = new Tensor?[_parameters.Length];
        _momentum = Scalars.Of(momentum);
        _weightDecay = Scalars.Of(weightDecay);
        _useMomentum = momentum != 0;
        _useWeightDecay = weightDecay != 0;
        _nesterov = nesterov;
    }

    public void ZeroGrad()
    {
        foreach (var p in _parameters)
            p.grad?.zero_();
    }

    public void Step(double learningRate)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var minusLearningRate = Scalars.Of(-learningRate);
        for (var i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i];
            var d = p.grad;
            if (d is null)
                continue;
            if (_useWeightDecay)
                d = d.add(p, _weightDecay);
            if (_useMomentum)
            {
                var buffer = _momentumBuffers[i];
                if (buffer is null)
                    _momentumBuffers[i] = buffer = d.clone().DetachFromDisposeScope();
                else
                    buffer.mul_(_momentum).add_(d, Scalars.One);
                d = _nesterov ? d.add(buffer, _momentum) : buffer;
            }
            p.add_(d, minusLearningRate);
        }
    }

    public WeightSnapshot CaptureState()
    {
        var held = Enumerable.Range(0, _parameters.Length).Where(i => _momentumBuffers[i] is not null).ToArray();
        var layout = new WeightLayout(held.Select(BufferEntry).ToList());
        return WeightSnapshot.FromOwned(layout, OptimizerTensors.Flatten(layout, held.Select(i => _momentumBuffers[i]).ToList()));
    }

    public void RestoreState(WeightSnapshot state)
    {
        const string context = "restoring the SGD state";
        var indexOf = Enumerable.Range(0, _parameters.Length).ToDictionary(i => BufferEntry(i).Name);
        if (state.Layout.Entries.FirstOrDefault(e => !indexOf.ContainsKey(e.Name)) is { } unknown)
            throw new WeightLayoutException($"{context}: '{unknown.Name}' is not '<parameter>.momentum_buffer' of a parameter of this model");
        if (!_useMomentum && state.Layout.Entries.Count > 0)
            throw new WeightLayoutException($"{context}: it has momentum buffers, but this SGD has no momentum");
        // Entries in parameter order, as captured, keep equal states' snapshots equal.
        var held = state.Layout.Entries.Select(e => indexOf[e.Name]).ToArray();
        for (var k = 1; k < held.Length; k++)
        {
            if (held[k] <= held[k - 1])
                throw new WeightLayoutException($"{context}: '{state.Layout.Entries[k].Name}' is repeated or out of parameter order");
        }
        new WeightLayout(held.Select(BufferEntry).ToList()).EnsureMatches(state.Layout, context);

        var restored = new Tensor?[_parameters.Length];
        using (var scope = NewDisposeScope())
        using (var noGrad = no_grad())
        {
            var flat = state.View();
            for (var k = 0; k < held.Length; k++)
                restored[held[k]] = empty_like(_parameters[held[k]]).copy_(OptimizerTensors.Entry(flat, state.Layout, k)).DetachFromDisposeScope();
        }
        // Parameters without a buffer in the state get none, so their next step starts it afresh (b = d).
        for (var i = 0; i < _parameters.Length; i++)
        {
            _momentumBuffers[i]?.Dispose();
            _momentumBuffers[i] = restored[i];
        }
    }

    private WeightEntry BufferEntry(int i) => new($"{_names[i]}.momentum_buffer", [.. _parameters[i].shape], WeightKind.Buffer);

    public void Dispose()
    {
        foreach (var buffer in _momentumBuffers)
            buffer?.Dispose();
        _momentum.Dispose();
        _weightDecay.Dispose();
    }
}

/// <summary>
/// torch.optim.AdamW (betas 0.9/0.999, eps 1e-8): p = p * (1 - lr * wd); m = b1 m + (1 - b1) g;
/// v = b2 v + (1 - b2) g^2; p = p - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps).
/// Its state is `step` (a <see cref="WeightKind.Counter"/> of shape [], like PyTorch's 0-d step tensor, but one
/// for all parameters, as they all step together) followed by `&lt;parameter&gt;.exp_avg` and
/// `&lt;parameter&gt;.exp_avg_sq` for every parameter, in parameter order.
/// </summary>
public sealed class AdamW : IOptimizer
{
    private const double Beta1 = 0.9;
    private const double Beta2 = 0.999;
    private const double Epsilon = 1e-8;
    /// <summary>Snapshots hold floats, which count exactly up to 2^24: a larger step could not be restored bit for bit.</summary>
    private const long MaxStep = 1L << 24;
    private readonly Parameter[] _parameters;
    private readonly WeightLayout _layout;
    private readonly Tensor[] _firstMoments;
    private readonly Tensor[] _secondMoments;
    private readonly double _weightDecay;
    private readonly Scalar _beta1 = Scalars.Of(Beta1);
    private readonly Scalar _beta2 = Scalars.Of(Beta2);
    private readonly Scalar _oneMinusBeta1 = Scalars.Of(1 - Beta1);
    private readonly Scalar _oneMinusBeta2 = Scalars.Of(1 - Beta2);
    private readonly Scalar _epsilon = Scalars.Of(Epsilon);
    private long _steps;

    public AdamW(IEnumerable<(string Name, Parameter Parameter)> parameters, double weightDecay)
    {
        var named = parameters.ToArray();
        _parameters = named.Select(p => p.Parameter).ToArray();
        _layout = new WeightLayout([
            new WeightEntry("step", [], WeightKind.Counter),
            .. named.SelectMany(p => new[]
            {
                new WeightEntry($"{p.Name}.exp_avg", [.. p.Parameter.shape], WeightKind.Buffer),
                new WeightEntry($"{p.Name}.exp_avg_sq", [.. p.Parameter.shape], WeightKind.Buffer),
            }),
        ]);
        _firstMoments = _parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        _secondMoments = _parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        _weightDecay = weightDecay;
    }

    public void ZeroGrad()
    {
        foreach (var p in _parameters)
            p.grad?.zero_();
    }

    public void Step(double learningRate)
    {
        _steps++;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var decay = Scalars.Of(1 - learningRate * _weightDecay);
        using var minusStepSize = Scalars.Of(-learningRate / (1 - Math.Pow(Beta1, _steps)));
        using var secondCorrection = Scalars.Of(Math.Sqrt(1 - Math.Pow(Beta2, _steps)));
        for (var i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i];
            var g = p.grad;
            if (g is null)
                continue;
            p.mul_(decay);
            _firstMoments[i].mul_(_beta1).add_(g, _oneMinusBeta1);
            _secondMoments[i].mul_(_beta2).addcmul_(g, g, _oneMinusBeta2);
            var denominator = _secondMoments[i].sqrt().div_(secondCorrection).add_(_epsilon, Scalars.One);
            p.addcdiv_(_firstMoments[i], denominator, minusStepSize);
        }
    }

    public WeightSnapshot CaptureState()
    {
        if (_steps > MaxStep)
            throw new InvalidOperationException($"AdamW step {_steps} is beyond {MaxStep}, the largest a snapshot stores exactly");
        var values = OptimizerTensors.Flatten(_layout, [null, .. Moments()]);
        values[0] = _steps;
        return WeightSnapshot.FromOwned(_layout, values);
    }

    public void RestoreState(WeightSnapshot state)
    {
        if (state.Layout.Entries.Count == 0)
        {
            foreach (var moment in Moments())
                moment.zero_();
            _steps = 0;
            return;
        }
        const string context = "restoring the AdamW state";
        _layout.EnsureMatches(state.Layout, context);
        var step = state.Values[0];
        if (!(step >= 0 && step <= MaxStep && step == MathF.Floor(step)))
            throw new WeightLayoutException($"{context}: 'step' is {step}, expected a whole number from 0 to {MaxStep}");

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var flat = state.View();
        var moments = Moments().ToArray();
        for (var k = 0; k < moments.Length; k++)
            moments[k].copy_(OptimizerTensors.Entry(flat, _layout, k + 1));
        _steps = (long)step;
    }

    /// <summary>exp_avg and exp_avg_sq of every parameter, in the order of the state's entries after `step`.</summary>
    private IEnumerable<Tensor> Moments() => _firstMoments.Zip(_secondMoments).SelectMany(m => new[] { m.First, m.Second });

    public void Dispose()
    {
        foreach (var tensor in _firstMoments.Concat(_secondMoments))
            tensor.Dispose();
        foreach (var scalar in new[] { _beta1, _beta2, _oneMinusBeta1, _oneMinusBeta2, _epsilon })
            scalar.Dispose();
    }
}

/// <summary>Copies between optimizer tensors and a snapshot's flat float vector (the idiom of <see cref="ModelState"/>).</summary>
internal static class OptimizerTensors
{
    /// <summary>The values of a state of <paramref name="layout"/>, entry i copied from tensors[i] (null: left at 0).</summary>
    public static float[] Flatten(WeightLayout layout, IReadOnlyList<Tensor?> tensors)
    {
        var values = new float[layout.TotalLength];
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var flat = from_array(values);
        for (var i = 0; i < tensors.Count; i++)
        {
            if (tensors[i] is { } tensor)
                flat.narrow(0, layout.OffsetOf(i), layout.Entries[i].Length).copy_(tensor.reshape(-1));
        }
        return values;
    }

    /// <summary>Entry <paramref name="index"/> of a flat state vector, as a view shaped like the entry.</summary>
    public static Tensor Entry(Tensor flat, WeightLayout layout, int index) =>
        flat.narrow(0, layout.OffsetOf(index), layout.Entries[index].Length).view([.. layout.Entries[index].Shape]);
}
