using System.Diagnostics;

namespace PapaActors.Tests.Support;

/// <summary>Runs the real `papa` program (built next to the tests) as a child process.</summary>
public static class Cli
{
    public sealed record Result(int ExitCode, string Output);

    public static Result Run(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "papa.dll"));
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return new Result(process.ExitCode, output + error.Result);
    }
}
