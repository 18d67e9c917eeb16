using PapaActors.Actors.Messages;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Run;

/// <summary>
/// What a member's or node's report must hold before the run takes it. Numbers no member can report are that
/// member's failure, named, never an exception in the run (a loss may be NaN: that is a divergence, handled as one).
/// </summary>
public static class ReportChecks
{
    /// <summary>In [0, 1], or NaN: not measured (an empty held-out split).</summary>
    public static bool IsAccuracy(double accuracy) => double.IsNaN(accuracy) || accuracy is >= 0 and <= 1;

    public static bool AllFinite(WeightSnapshot weights) => weights.Values.All(float.IsFinite);

    public static string? Implausible(Trained r) =>
        r.HeldOutAccuracy is { } accuracy && !IsAccuracy(accuracy) ? $"it reported a held-out accuracy of {accuracy}, outside [0, 1]"
        : r.Step < 0 || r.Samples < 0 ? $"it reported step {r.Step} and {r.Samples} samples"
        : new[] { r.Seconds, r.WaitSeconds, r.MixSeconds }.Any(t => !(t >= 0 && double.IsFinite(t))) ? $"it reported times of {r.Seconds}, {r.WaitSeconds} and {r.MixSeconds} s"
        : !double.IsFinite(r.LearningRate) ? $"it reported a learning rate of {r.LearningRate}"
        : null;

    /// <summary>What a node's report lacks of what this round's <see cref="CombineRound"/> asked it for (the mix needs all of it).</summary>
    public static string? Incomplete(CombineRound? asked, NodeTrained node)
    {
        if (asked is null)
            return "was not asked for";
        if (!asked.Members.Order().SequenceEqual(node.Reports.Select(r => r.Member).Order()))
            return $"covers members {string.Join(", ", node.Reports.Select(r => r.Member))}, not {string.Join(", ", asked.Members)}";
        if (node.Reports.Any(r => r.Diverged))
            return null; // a diverged member's weights are left out, and the round resets it from the others
        if (asked.Sum && node.Sum is null)
            return "has no sum";
        var snapshots = asked.UploadSnapshots.Where(m => !node.Snapshots.ContainsKey(m)).ToList();
        var children = asked.UploadChildren.Where(p => !node.Children.ContainsKey(p)).ToList();
        return snapshots.Count + children.Count == 0 ? null
            : $"lacks the snapshots of member(s) {string.Join(", ", snapshots)} and the children of {string.Join(", ", children)}";
    }

    /// <summary>What is wrong with a member's final report: weights of another layout, logits that do not fit the test set, accuracies out of range.</summary>
    public static string? FinalProblem(MemberFinal final, string layoutFingerprint, int testImages) =>
        final.Weights.Layout.Fingerprint != layoutFingerprint ? $"its final weights have layout {final.Weights.Layout.Fingerprint}, the population {layoutFingerprint}"
        : testImages == 0 || final.TestLogits.Length == 0 || final.TestLogits.Length % testImages != 0
            ? $"it sent {final.TestLogits.Length} test logits for {testImages} test images"
        : !(final.TestAccuracy is >= 0 and <= 1 && IsAccuracy(final.HeldOutAccuracy))
            ? $"it reported accuracies {final.TestAccuracy} (test) and {final.HeldOutAccuracy} (held-out), outside [0, 1]"
        : null;
}
