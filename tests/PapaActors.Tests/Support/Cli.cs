using PapaActors.Host;
using PapaActors.Models;
using Spectre.Console;

namespace PapaActors.Tests.Support;

/// <summary>
/// Runs the `papa` program in this process (<see cref="RunInProcess"/>), for bad input and every other case where
/// the process itself is not under test (for those, <see cref="PapaProcess"/>), and checks how it refuses bad input.
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

    /// <summary>Bad input: exit code 2 and one `error:` line that names the problem, never a stack trace.</summary>
    public static void AssertRejected(Result result, params string[] facts)
    {
        Assert.True(result.ExitCode == 2, result.Output);
        Assert.DoesNotContain("   at ", result.Output);
        var error = Assert.Single(result.Output.Split('\n'), line => line.StartsWith("error:", StringComparison.Ordinal));
        foreach (var fact in facts)
            Assert.Contains(fact, error);
    }
}
