using System.Collections.Immutable;
using PapaActors.Models.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace PapaActors.Models.Training;

public sealed record EvaluationResult(long Correct, double Loss, long Samples, float[]? Logits)
{
    public double Accuracy => Samples > 0 ? (double)Correct / Samples : double.NaN;
}

/// <summary>Accuracy and loss of a model on a split (eval mode, no gradients), optionally with its logits.</summary>
public static class Evaluation
{
    /// <summary>Evaluates the <paramref name="rows"/> (start, count) of a split, by default all of it.</summary>
    public static EvaluationResult Evaluate(nn.Module<Tensor, Tensor> model, DataSplits data, DataSplit split, int batchSize, Device device, bool keepLogits,
        (long Start, long Count)? rows = null)
    {
        var set = data[split];
        var (first, total) = rows ?? (0, set.Count);
        var logits = keepLogits ? new float[total * set.Classes] : null;
        long correct = 0;
        double lossSum = 0;
        using var mode = ModuleMode.Eval(model);
        using (no_grad())
        {
            for (var start = first; start < first + total; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var count = Math.Min(batchSize, first + total - start);
                var (images, labels) = data.Batch(split, Scalars.Arange(start, start + count), device);
                var output = model.forward(images);
                lossSum += nn.functional.cross_entropy(output, labels, reduction: nn.Reduction.Sum).item<float>();
                correct += output.argmax(1).eq(labels).sum().item<long>();
                if (logits is not null)
                    output.cpu().data<float>().CopyTo(logits.AsSpan((int)((start - first) * set.Classes), (int)(count * set.Classes)));
            }
        }
        return new EvaluationResult(correct, total > 0 ? lossSum / total : double.NaN, total, logits);
    }

    /// <summary>The rows (start, count) of part <paramref name="part"/> of <paramref name="parts"/> near-equal contiguous parts of <paramref name="count"/> rows.</summary>
    public static (long Start, long Count) Slice(long count, int part, int parts)
    {
        if (parts < 1 || part < 0 || part >= parts)
            throw new ArgumentOutOfRangeException(nameof(part), $"part {part} of {parts}");
        var start = count * part / parts;
        return (start, count * (part + 1) / parts - start);
    }

    /// <summary>
    /// Accuracy of the ensemble whose prediction is the mean of the members' row-major [N, classes] logits
    /// (logit averaging, as the reference). A single member's logits give that member's accuracy.
    /// </summary>
    public static double EnsembleAccuracy(IReadOnlyList<ImmutableArray<float>> memberLogits, int[] labels)
    {
        if (memberLogits.Count == 0 || labels.Length == 0 || memberLogits.Any(l => l.Length != memberLogits[0].Length || l.Length % labels.Length != 0))
            throw new ArgumentException($"logits of {memberLogits.Count} members do not all split into {labels.Length} rows");
        using var scope = NewDisposeScope();
        var sum = zeros(memberLogits[0].Length);
        foreach (var logits in memberLogits)
            sum.add_(tensor(logits), Scalars.One);
        var predictions = sum.view(labels.Length, -1).argmax(1);
        var correct = predictions.eq(tensor(labels).to_type(ScalarType.Int64)).sum().item<long>();
        return (double)correct / labels.Length;
    }
}
