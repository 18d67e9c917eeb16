namespace PapaActors.Models.Training;

/// <summary>
/// Linear warm-up to the peak, then cosine annealing to the minimum, evaluated per iteration
/// (as PyTorch's CosineAnnealingLR stepped every batch). A pure function of the step.
/// </summary>
public sealed record LearningRateSchedule(double Peak, double Minimum, long TotalSteps, long WarmupSteps)
{
    public double At(long step)
    {
        if (step < WarmupSteps)
            return Peak * (step + 1) / WarmupSteps;
        var span = Math.Max(1, TotalSteps - WarmupSteps);
        var progress = Math.Clamp((double)(step - WarmupSteps) / span, 0, 1);
        return Minimum + (Peak - Minimum) * (1 + Math.Cos(Math.PI * progress)) / 2;
    }
}
