using System.Diagnostics;
using PapaActors.Host;
using PapaActors.Models;
using Spectre.Console;

namespace PapaActors.Tests.Support;

/// <summary>
/// Runs the `papa` program: in this process (<see cref="RunInProcess"/>, for bad input and other quick cases),
/// or the real program built next to the tests as a child process (<see cref="Run(string[])"/>, where the
/// process itself is under test: signals, exit codes of a run, scripts).
/// </summary>
public static class Cli
{
    public sealed record Result(int ExitCode, string Output);

    /// <summary>
    /// papa's entry point in this process with its output captured (what it prints, then the command line's
    /// errors); past <see cref="Timeouts.Run"/> it throws a <see cref="TimeoutException"/> naming the command.
    /// </summary>
    public static Result RunInProcess(params string[] arguments)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 240; // as the program's own redirected output: one line per message
        // papa sets libtorch's thread count for its run; the tests that run after this one keep theirs.
        var torchThreads = TorchSharp.torch.get_num_threads();
        try
        {
            var run = Task.Run(() => Program.Execute(arguments, console, error));
            if (!run.Wait(Timeouts.Run))
                throw new TimeoutException($"papa {string.Join(' ', arguments)} did not finish in-process within {Timeouts.Run}");
            return new Result(run.Result, output.ToString() + error);
        }
        finally
        {
            TorchRuntime.Configure(torchThreads);
        }
    }

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
