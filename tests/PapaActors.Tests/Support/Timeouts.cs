namespace PapaActors.Tests.Support;

/// <summary>How long a test waits for a whole run or a child process: a hang fails the test instead of stalling CI.</summary>
public static class Timeouts
{
    public static readonly TimeSpan Run = TimeSpan.FromMinutes(5);
}
