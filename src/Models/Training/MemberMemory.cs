using PapaActors.Models.Data;
using PapaActors.Models.Nets;
using static TorchSharp.torch;

namespace PapaActors.Models.Training;

/// <summary>
/// What one member costs in memory, from its model built once on the CPU: its parameters held
/// <paramref name="ParameterCopies"/> times (weights, gradients, optimizer state, the snapshot it reports and the
/// averager's copy of it), its BatchNorm buffers twice, the activations of one training batch with their gradients,
/// and its thread's stack. It leaves out allocator slack and libtorch's workspaces, so a run it says cannot fit cannot.
/// </summary>
public sealed record MemberMemory(long Parameters, long Buffers, long ActivationsPerSample, int BatchSize, int ParameterCopies)
{
    /// <summary>The stack .NET reserves for a thread by default; each member runs on its own pinned thread.</summary>
    private const long ThreadStackBytes = 1536 * 1024;

    public long Bytes => sizeof(float) * (Parameters * ParameterCopies + 2 * Buffers + 2 * ActivationsPerSample * BatchSize) + ThreadStackBytes;

    public static MemberMemory Of(TrainingSettings settings, ImageShape shape, int classes)
    {
        using var scope = NewDisposeScope();
        using var model = ModelZoo.Create(settings.Model, shape, classes, settings.ModelWidth, initSeed: 0);
        long activations = 0;
        foreach (var layer in model.modules().OfType<nn.Module<Tensor, Tensor>>().Where(m => !m.children().Any()))
            layer.register_forward_hook((_, _, output) =>
            {
                activations += output.numel();
                return output;
            });
        model.eval();
        const int samples = 2; // BatchNorm needs more than one
        using (no_grad())
            model.call(zeros(samples, shape.Channels, shape.Height, shape.Width));
        var optimizerCopies = settings.Optimizer.Name == "adamw" ? 2 : settings.Optimizer.Momentum != 0 ? 1 : 0;
        return new MemberMemory(model.parameters().Sum(p => p.numel()), model.buffers().Sum(b => b.numel()), activations / samples,
            settings.BatchSize, 4 + optimizerCopies);
    }
}
