using PapaActors.Host;

namespace PapaActors.Tests.Host;

public sealed class DurationsTests
{
    [Theory]
    [InlineData(0, "0:00:00")]
    [InlineData(59.6, "0:01:00")]
    [InlineData(82, "0:01:22")]
    [InlineData(3 * 3600 + 4 * 60 + 5, "3:04:05")]
    [InlineData(70 * 3600 + 82, "70:01:22")]
    [InlineData(((2 * 24 + 3) * 60 + 4) * 60 + 5, "51:04:05")]
    [InlineData(1000 * 24 * 3600, "24000:00:00")]
    public void AClockCountsHoursPastADay(double seconds, string clock) =>
        Assert.Equal(clock, Durations.Clock(TimeSpan.FromSeconds(seconds)));
}
