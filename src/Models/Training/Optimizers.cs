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

    public static IOptimizer Create(OptimizerSettings settings, IEnumerable<Parameter> parameters) => settings.Name switch
    {
        "sgd" => new Sgd(parameters, settings.Momentum, settings.WeightDecay, settings.Nesterov),
        "adamw" => new AdamW(parameters, settings.WeightDecay),
        _ => throw new ArgumentException($"unknown optimizer '{settings.Name}' (known: {string.Join(", ", OptimizerSettings.Names)})"),
    };
}

/// <summary>
/// torch.optim.SGD without dampening: d = g + wd * p; b = momentum * b + d (b = d on the first step);
/// d = nesterov ? d + momentum * b : b; p = p - lr * d.
/// </summary>
public sealed class Sgd : IOptimizer
{
    private readonly Parameter[] _parameters;
    private readonly Tensor?[] _momentumBuffers;
    private readonly Scalar _momentum;
    private readonly Scalar _weightDecay;
    private readonly bool _useMomentum;
    private readonly bool _useWeightDecay;
    private readonly bool _nesterov;

    public Sgd(IEnumerable<Parameter> parameters, double momentum, double weightDecay, bool nesterov)
    {
        _parameters = parameters.ToArray();
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
/// </summary>
public sealed class AdamW : IOptimizer
{
    private const double Beta1 = 0.9;
    private const double Beta2 = 0.999;
    private const double Epsilon = 1e-8;
    private readonly Parameter[] _parameters;
    private readonly Tensor[] _firstMoments;
    private readonly Tensor[] _secondMoments;
    private readonly double _weightDecay;
    private readonly Scalar _beta1 = Scalars.Of(Beta1);
    private readonly Scalar _beta2 = Scalars.Of(Beta2);
    private readonly Scalar _oneMinusBeta1 = Scalars.Of(1 - Beta1);
    private readonly Scalar _oneMinusBeta2 = Scalars.Of(1 - Beta2);
    private readonly Scalar _epsilon = Scalars.Of(Epsilon);
    private long _steps;

    public AdamW(IEnumerable<Parameter> parameters, double weightDecay)
    {
        _parameters = parameters.ToArray();
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

    public void Dispose()
    {
        foreach (var tensor in _firstMoments.Concat(_secondMoments))
            tensor.Dispose();
        foreach (var scalar in new[] { _beta1, _beta2, _oneMinusBeta1, _oneMinusBeta2, _epsilon })
            scalar.Dispose();
    }
}
