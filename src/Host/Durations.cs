namespace PapaActors.Host;

/// <summary>How `papa` prints a duration: hours:minutes:seconds, the hours counting on past a day (a 70-hour eta is 70:01:22).</summary>
internal static class Durations
{
    public static string Clock(TimeSpan duration)
    {
        var rounded = TimeSpan.FromSeconds(Math.Round(duration.TotalSeconds));
        return $"{(long)rounded.TotalHours}:{rounded:mm\\:ss}";
    }
}
