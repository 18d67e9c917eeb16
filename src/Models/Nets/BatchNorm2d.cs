using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PapaActors.Models.Nets;

/// <summary>
/// BatchNorm over channels, with PyTorch's parameters and buffers (weight, bias, running_mean, running_var,
/// num_batches_tracked) and semantics, including momentum = null for a cumulative average. Written here
/// rather than using TorchSharp's because its forward increments num_batches_tracked with a temporary Scalar,
/// which races with the garbage collector when members train on several threads (see <see cref="Scalars"/>).
/// </summary>
public sealed class BatchNorm2d : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // PyTorch's state-dict names
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly Tensor running_mean;
    private readonly Tensor running_var;
    private readonly Tensor num_batches_tracked;
#pragma warning restore IDE1006

    public BatchNorm2d(long features) : base(nameof(BatchNorm2d))
    {
        weight = new Parameter(ones(features));
        bias = new Parameter(zeros(features));
        running_mean = zeros(features);
        running_var = ones(features);
        num_batches_tracked = zeros(1, ScalarType.Int64).squeeze();
        register_parameter(nameof(weight), weight);
        register_parameter(nameof(bias), bias);
        register_buffer(nameof(running_mean), running_mean);
        register_buffer(nameof(running_var), running_var);
        register_buffer(nameof(num_batches_tracked), num_batches_tracked);
    }

    /// <summary>Weight of the running statistics' update; null averages all batches since the last reset.</summary>
    public double? Momentum { get; set; } = 0.1;

    public double Eps { get; } = 1e-5;

    /// <summary>When false, training mode normalises with batch statistics but leaves the running ones alone.</summary>
    public bool UpdatesRunningStatistics { get; set; } = true;

    public override Tensor forward(Tensor input)
    {
        if (training && !UpdatesRunningStatistics)
            return nn.functional.batch_norm(input, null, null, weight, bias, training: true, 0, Eps);
        var factor = 0.0;
        if (training)
        {
            num_batches_tracked.add_(Scalars.One, Scalars.One);
            factor = Momentum ?? 1.0 / num_batches_tracked.item<long>();
        }
        return nn.functional.batch_norm(input, running_mean, running_var, weight, bias, training, factor, Eps);
    }

    public void ResetRunningStatistics()
    {
        using var noGrad = no_grad();
        running_mean.zero_();
        running_var.fill_(Scalars.One);
        num_batches_tracked.zero_();
    }
}
