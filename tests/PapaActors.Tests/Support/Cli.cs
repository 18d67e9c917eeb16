using System.Diagnostics;

namespace PapaActors.Tests.Support;

/// <summary>Runs the real `papa` program (built next to the tests) as a child process.</summary>
public static class Cli
{
    public sealed record Result(int ExitCode, string Output);

    public static Result Run(params string[] arguments) => Run(Timeouts.Run, arguments);

    public static Result Run(TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet");
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "papa.dll"));
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        return Run(start, timeout, $"papa {string.Join(' ', arguments)}");
    }

    /// <summary>Bad input: exit code 2 and one `error:` line that names the problem, never a stack trace.</summary>
    public static void AssertRejected(Result result, params string[] facts)
    {
        Assert.True(result.ExitCode == 2, result.Output);
        Assert.DoesNotContain("   at ", result.Output);
        var error = Assert.Single(result.Output.Split('\n'), line => line.StartsWith("error:", StringComparison.Ordinal));
        foreach (var fact in facts)
            Assert.Contains(fact, error);
    }

    /// <summary>
    /// Runs <paramref name="start"/> to its end and returns its exit code and output (stdout, then stderr). Past
    /// <paramref name="timeout"/> it kills the whole process tree and throws a <see cref="TimeoutException"/> naming <paramref name="name"/>.
    /// </summary>
    public static Result Run(ProcessStartInfo start, TimeSpan timeout, string name)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        // The output ends only when every process holding the pipes has exited, so all three are waited for together.
        if (!Task.WhenAll(output, error, process.WaitForExitAsync()).Wait(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(TimeSpan.FromSeconds(30));
            throw new TimeoutException($"{name} did not finish within {timeout}; it was killed");
        }
        return new Result(process.ExitCode, output.Result + error.Result);
    }
}
