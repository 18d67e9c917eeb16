using System.Diagnostics;
using Akka.Actor;
using PapaActors.Actors;
using PapaActors.Actors.Cluster;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Actors.Security;
using PapaActors.Models;
using PapaActors.Models.Data;
using Spectre.Console;
using ClusterExtension = Akka.Cluster.Cluster;

namespace PapaActors.Host;

/// <summary>`papa node`: one node of a cluster run, in the averager or the member role.</summary>
internal static class NodeCommand
{
    public static async Task<int> AveragerAsync(string? configFile, IReadOnlyList<string> overrides, string? outFolder, string? resumeFolder,
        string hostname, int port, IReadOnlyList<string> seedNodes, bool verbose)
    {
        if (resumeFolder is not null)
        {
            if (configFile is not null || overrides.Count > 0 || outFolder is not null)
                throw new ConfigException("--resume continues the run of its folder with that run's own config: drop --config, --set and --out");
            var (resumed, runLock) = RunResumption.Prepare(resumeFolder);
            using var heldLock = runLock;
            using var resumedData = RunChecks.Averager(resumed);
            var folder = Path.GetFullPath(resumeFolder);
            return await RunAveragerAsync(resumed, resumedData, folder, RunResumption.StartFrom(folder, resumed, resumedData), hostname, port, seedNodes, verbose);
        }
        var run = RunConfig.Load(configFile ?? LocalRun.DefaultConfig, overrides);
        using var data = RunChecks.Averager(run);
        return await RunFolder.InNewFolderAsync(outFolder, run.Settings,
            folder => RunAveragerAsync(run, data, folder, RunStart.Fresh, hostname, port, seedNodes, verbose));
    }

    /// <summary>The averager node's run in <paramref name="folder"/>, which the caller holds locked.</summary>
    private static async Task<int> RunAveragerAsync(RunConfig run, DataSplits data, string folder, RunStart start,
        string hostname, int port, IReadOnlyList<string> seedNodes, bool verbose)
    {
        var settings = run.Settings;
        NLogSetup.Configure(Path.Combine(folder, NLogSetup.LogFile), verbose);
        using var system = PapaSystemSetup.ClusterNode(run.Config, ClusterNodes.AveragerRole, new NodeEndpoint(hostname, port), seedNodes).Create(ClusterNodes.SystemName);
        var cluster = ClusterExtension.Get(system);
        if (seedNodes.Count == 0)
            cluster.Join(cluster.SelfAddress);
        AnsiConsole.MarkupLineInterpolated($"averager node at [bold]{cluster.SelfAddress}[/]; waiting for {settings.Population} members. Start them with:");
        AnsiConsole.MarkupLineInterpolated($"  {CommandLines.MemberNode(cluster.SelfAddress.ToString(), "0,1,...")}");
        if (RunSecret.Load(settings.Secret.File) is not null)
            AnsiConsole.MarkupLine("  each with this run's secret (the same papa.cluster.secret-file, or PAPA_CLUSTER_SECRET)");

        var reporter = system.ActorOf(ConsoleReporter.Props(), "console");
        var resumeCommand = CommandLines.ResumeAverager(folder);
        using var signals = InterruptSignals.ForRun(folder, resumeCommand);
        var outcome = ClusterNodes.StartAverager(system, run, data, folder, resumeCommand, reporter, start, signals.Token);
        var result = await LocalRun.OutcomeOrTermination(outcome, system);
        signals.Settle(LocalRun.ExitCodeOf(result));
        await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClusterLeavingReason.Instance);
        return LocalRun.Report(result, folder, resumeCommand);
    }

    /// <summary>
    /// A member node. It keeps its members in the run through faults: when the averager's node is lost (or
    /// this node was downed), it starts a fresh ActorSystem and joins the seed nodes again, where a resumed
    /// averager hands its members their state; it gives up once no averager has answered for the run's
    /// replacement timeout. <paramref name="indices"/> null: whatever indices are missing (`--members auto`).
    /// </summary>
    public static async Task<int> MemberAsync(IReadOnlyList<string> overrides, string? configFile, string hostname, int port,
        IReadOnlyList<string> seedNodes, IReadOnlyList<int>? indices, IReadOnlyList<string>? devices, bool verbose)
    {
        if (seedNodes.Count == 0)
            throw new ConfigException("a member node needs --seed-node akka.tcp://papa@HOST:PORT (the averager node's address)");
        if (indices is not null && (indices.Count == 0 || indices.Distinct().Count() != indices.Count))
            throw new ConfigException("--members needs distinct member indices, such as --members 0,1, or auto");
        // The run configuration comes from the averager; this node's own keys only shape its Akka system and transfers,
        // and how long it waits for an averager before the run's own replacement timeout is known.
        var own = RunConfig.Load(configFile, overrides);
        var patience = own.Settings.Faults.ReplacementTimeout;
        var secret = RunSecret.Load(own.Settings.Secret.File);
        NLogSetup.Configure(null, verbose);
        using var signals = InterruptSignals.ForMemberNode();
        var stopped = new TaskCompletionSource();
        signals.Token.Register(() => stopped.TrySetResult());
        var seeds = string.Join(", ", seedNodes);
        var withoutAverager = Stopwatch.StartNew();
        // Whole seconds: it is printed.
        TimeSpan Remaining() => TimeSpan.FromSeconds(Math.Max(0, Math.Round((patience - withoutAverager.Elapsed).TotalSeconds)));
        while (true)
        {
            using var system = PapaSystemSetup.ClusterNode(own.Config, ClusterNodes.MemberRole, new NodeEndpoint(hostname, port), seedNodes).Create(ClusterNodes.SystemName);
            AnsiConsole.MarkupLineInterpolated(
                $"member node at [bold]{ClusterExtension.Get(system).SelfAddress}[/] for {(indices is null ? "any missing members" : $"members {string.Join(", ", indices)}")}; joining {seeds}");
            var inContact = new TaskCompletionSource();
            var finished = ClusterNodes.StartMembers(system, indices, devices, secret, e =>
            {
                switch (e)
                {
                    case MemberNodeNotice notice:
                        AnsiConsole.MarkupLineInterpolated($"{notice.Text}");
                        break;
                    case MembersStarted started:
                        patience = started.ReplacementTimeout;
                        inContact.TrySetResult();
                        AnsiConsole.MarkupLineInterpolated($"running members {string.Join(", ", started.Indices)}");
                        break;
                }
            });
            var ended = Task.WhenAny(finished, system.WhenTerminated, stopped.Task);
            var first = await Task.WhenAny(ended, inContact.Task, Task.Delay(Remaining()));
            if (first != ended && first != inContact.Task)
            {
                await Leave(system);
                AnsiConsole.MarkupLineInterpolated($"[red]error:[/] this node got no members from an averager at {seeds} within {patience} (papa.replacement-timeout); stopping");
                return ExitCodes.RunFailed;
            }
            // Bounded once members run: the averager ends every run (its rounds have timeouts), and a lost averager
            // gets this node downed by the failure detector, which terminates the system.
            await ended;
            await Leave(system);
            if (stopped.Task.IsCompleted)
                return ExitCodes.Interrupted;
            if (finished.IsCompleted && !finished.Result.AveragerLost)
                return Report(finished.Result);
            if (inContact.Task.IsCompleted)
                withoutAverager.Restart();
            var cause = finished.IsCompleted ? string.Join("; ", finished.Result.Failures) : "this node was downed by the cluster";
            AnsiConsole.MarkupLineInterpolated(
                $"[yellow]lost the averager[/] ({cause}); joining {seeds} again, for up to {Remaining()}");
        }
    }

    /// <summary>Leaves the cluster and stops the actor system (a node that was downed has stopped already).</summary>
    private static async Task Leave(ActorSystem system)
    {
        var limit = TimeSpan.FromSeconds(30);
        try
        {
            await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClusterLeavingReason.Instance).WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            AnsiConsole.MarkupLineInterpolated($"[yellow]warning:[/] leaving the cluster took longer than {limit}; stopping the node anyway");
            _ = system.Terminate();
        }
    }

    private static int Report(MemberNodeFinished finished)
    {
        foreach (var failure in finished.Failures)
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {failure}");
        if (finished.Completed)
            AnsiConsole.MarkupLineInterpolated($"run completed: {finished.Summary}");
        else if (finished.Summary is not null)
            AnsiConsole.MarkupLineInterpolated($"[red]run failed:[/] {finished.Summary}");
        return finished.Completed ? ExitCodes.Success : ExitCodes.RunFailed;
    }
}
