using System.Diagnostics;
using Akka.Actor;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Schedule;
using Spectre.Console;

namespace PapaActors.Host;

/// <summary>
/// Prints a progress line per round (at most one every two seconds, plus every epoch end and every
/// PAPA-all / PAPA-2 mix), and a line for each checkpoint, fault, rollback and divergence reset.
/// </summary>
internal sealed class ConsoleReporter : ReceiveActor
{
    private static readonly TimeSpan MinimumInterval = TimeSpan.FromSeconds(2);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan? _lastLine;
    private SchedulePlan? _plan;
    private long _samples;

    public ConsoleReporter()
    {
        Receive<RunStarted>(e =>
        {
            _plan = e.Plan;
            _clock.Restart();
            AnsiConsole.MarkupLineInterpolated(
                $"[bold]{e.Settings.Method.Name()}[/]: {e.Settings.Population} x {e.Settings.Training.Model} on {e.Settings.Dataset.Name}, {e.Settings.Epochs} epoch(s) of {e.Plan.StepsPerEpoch} steps, {e.Plan.Rounds.Count} rounds");
        });
        Receive<RoundCompleted>(OnRound);
        Receive<CheckpointWritten>(w => Console.WriteLine($"checkpoint of round {w.Round}: {w.Bytes / 1e6:0.0} MB in {w.Milliseconds:0} ms ({w.Folder})"));
        Receive<CheckpointFailed>(f => AnsiConsole.MarkupLineInterpolated($"[red]checkpoint of round {f.Round} failed:[/] {f.Reason}"));
        Receive<FaultRecorded>(f => AnsiConsole.MarkupLineInterpolated(
            $"[yellow]fault in round {f.Round}[/]{(f.Member is { } m ? $", member {m}" : "")}: {f.Detail}{(f.Replacement is { } r ? $"; start a node for member(s) {string.Join(",", r.Members)}: {CommandLines.MemberNode(r.SeedNode, string.Join(",", r.Members))} (or --members auto)" : "")}"));
        Receive<RollBack>(r => AnsiConsole.MarkupLineInterpolated($"[yellow]rolling back[/] to {(r.Round is { } round ? $"the checkpoint of round {round}" : "the start")}: {r.Cause}"));
        Receive<MembersReset>(r => AnsiConsole.MarkupLineInterpolated($"[yellow]round {r.Round}: reset diverged member(s)[/] {string.Join(", ", r.Members)} to the mean of the finite ones ({r.Reason})"));
        Receive<IRunEvent>(_ => { });
    }

    public static Props Props() => Akka.Actor.Props.Create(() => new ConsoleReporter());

    private void OnRound(RoundCompleted round)
    {
        _samples += round.Reports.Sum(r => r.Samples);
        var important = round.Plan.EndsEpoch || round.Plan.Mix is ReplaceWithMean or ReplaceWithChildren;
        if (!important && _lastLine is { } last && _clock.Elapsed - last < MinimumInterval)
            return;
        _lastLine = _clock.Elapsed;
        var plan = _plan!;
        var done = round.Plan.EndStep;
        var seconds = _clock.Elapsed.TotalSeconds;
        var eta = TimeSpan.FromSeconds(seconds / done * (plan.TotalSteps - done));
        var heldOut = round.Reports.Where(r => r.HeldOutAccuracy.HasValue).Select(r => r.HeldOutAccuracy!.Value).ToList();
        var mix = round.Plan.Mix switch
        {
            PushTowardMean p => $"push keep={p.Keep:0.####}",
            ReplaceWithMean => "all <- mean",
            ReplaceWithChildren c => "children " + string.Join(" ", c.Parents),
            _ => "",
        };
        Console.WriteLine(
            $"epoch {round.Plan.Epoch + 1}/{plan.TotalSteps / plan.StepsPerEpoch} step {done}/{plan.TotalSteps} " +
            $"loss {round.Reports.Average(r => r.Loss):0.000} lr {round.Reports[0].LearningRate:0.####} " +
            (heldOut.Count > 0 ? $"held-out {heldOut.Average():0.0000} " : "") +
            $"{_samples / seconds:0} samples/s eta {Durations.Clock(eta)} {mix}".TrimEnd());
    }
}
