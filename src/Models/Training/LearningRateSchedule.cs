namespace PapaActors.Models.Training;

/// <summary>How the learning rate falls after warm-up: cosine annealing to the minimum, or steps by gamma at milestones.</summary>
public enum LearningRateDecay { Cosine, MultiStep }

/// <summary>
/// Linear warm-up to the peak, then the decay, evaluated per iteration (as a PyTorch scheduler stepped every batch).
/// Cosine: CosineAnnealingLR from the peak to <see cref="Minimum"/> over the steps after warm-up. MultiStep:
/// MultiStepLR, the peak times <see cref="Gamma"/> for every milestone step already reached (the reference's
/// lr_scheduler = multisteplr; <see cref="Minimum"/> is not used). A pure function of the step; the trainer and the
/// schedule's lr-scaled pushes both read it (<see cref="For"/>), so they cannot disagree.
/// </summary>
public sealed record LearningRateSchedule(double Peak, double Minimum, long TotalSteps, long WarmupSteps,
    LearningRateDecay Decay = LearningRateDecay.Cosine, IReadOnlyList<long>? Milestones = null, double Gamma = 0.1)
{
    /// <summary>The schedule of a run of <paramref name="epochs"/> epochs of <paramref name="stepsPerEpoch"/> steps.</summary>
    public static LearningRateSchedule For(OptimizerSettings optimizer, int epochs, long stepsPerEpoch)
    {
        var total = epochs * stepsPerEpoch;
        // The reference rounds each milestone fraction of the whole run to a step (utils/schedule.py).
        var milestones = optimizer.Milestones.Select(m => (long)Math.Round(m * total)).ToList();
        return new LearningRateSchedule(optimizer.LearningRate, optimizer.MinLearningRate, total,
            (long)Math.Round(optimizer.WarmupEpochs * stepsPerEpoch), optimizer.Decay, milestones, optimizer.Gamma);
    }

    public double At(long step)
    {
        if (step < WarmupSteps)
            return Peak * (step + 1) / WarmupSteps;
        if (Decay == LearningRateDecay.MultiStep)
            return Peak * Math.Pow(Gamma, (Milestones ?? []).Count(m => m <= step));
        var span = Math.Max(1, TotalSteps - WarmupSteps);
        var progress = Math.Clamp((double)(step - WarmupSteps) / span, 0, 1);
        return Minimum + (Peak - Minimum) * (1 + Math.Cos(Math.PI * progress)) / 2;
    }
}
