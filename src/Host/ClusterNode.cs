using Akka.Actor;
using Akka.Configuration;
using PapaActors.Actors.Cluster;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Models;
using Spectre.Console;
using ClusterExtension = Akka.Cluster.Cluster;

namespace PapaActors.Host;

/// <summary>`papa node`: one node of a cluster run, in the averager or the member role.</summary>
internal static class ClusterNode
{
    public static async Task<int> AveragerAsync(string? configFile, IReadOnlyList<string> overrides, string? outFolder, string? resumeFolder,
        string hostname, int port, IReadOnlyList<string> seedNodes, bool verbose)
    {
        Config config;
        PapaSettings settings;
        string folder;
        var start = RunStart.Fresh;
        if (resumeFolder is not null)
        {
            if (configFile is not null || overrides.Count > 0 || outFolder is not null)
                throw new ConfigException("--resume continues the run of its folder with that run's own config: drop --config, --set and --out");
            (config, settings, start) = RunResumption.Prepare(resumeFolder);
            folder = Path.GetFullPath(resumeFolder);
        }
        else
        {
            config = PapaConfig.Load(configFile ?? LocalRun.DefaultConfig, overrides);
            settings = PapaSettings.FromConfig(config);
            folder = RunFolder.Prepare(outFolder, settings);
        }
        NLogSetup.Configure(Path.Combine(folder, "run.log"), verbose);
        TorchRuntime.Configure(Environment.ProcessorCount);
        using var data = DataLoading.Load(settings);

        using var system = ActorSystem.Create(ClusterNodes.SystemName, ClusterNodes.NodeConfig(config, ClusterNodes.AveragerRole, hostname, port, seedNodes));
        var cluster = ClusterExtension.Get(system);
        if (seedNodes.Count == 0)
            cluster.Join(cluster.SelfAddress);
        AnsiConsole.MarkupLineInterpolated($"averager node at [bold]{cluster.SelfAddress}[/]; waiting for {settings.Population} members. Start them with:");
        AnsiConsole.MarkupLineInterpolated($"  ./papa node --role member --seed-node {cluster.SelfAddress} --members 0,1,...");

        var reporter = system.ActorOf(ConsoleReporter.Props(), "console");
        var resumeCommand = $"./papa node --role averager --resume {folder}";
        using var signals = new InterruptSignals(folder, resumeCommand);
        var run = ClusterNodes.StartAverager(system, settings, PapaConfig.Render(config), data, folder, reporter, start, signals.Token);
        var result = await LocalRun.OutcomeOrTermination(run, system);
        await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClusterLeavingReason.Instance);
        return LocalRun.Report(result, folder, resumeCommand);
    }

    public static async Task<int> MemberAsync(IReadOnlyList<string> overrides, string? configFile, string hostname, int port,
        IReadOnlyList<string> seedNodes, IReadOnlyList<int> indices, IReadOnlyList<string>? devices, bool verbose)
    {
        if (seedNodes.Count == 0)
            throw new ConfigException("a member node needs --seed-node akka.tcp://papa@HOST:PORT (the averager node's address)");
        if (indices.Count == 0 || indices.Distinct().Count() != indices.Count)
            throw new ConfigException("--members needs distinct member indices, such as --members 0,1");
        // The run configuration comes from the averager; this node's own keys only shape its Akka system and transfers.
        var config = PapaConfig.Load(configFile, overrides);
        NLogSetup.Configure(null, verbose);
        using var system = ActorSystem.Create(ClusterNodes.SystemName, ClusterNodes.NodeConfig(config, ClusterNodes.MemberRole, hostname, port, seedNodes));
        AnsiConsole.MarkupLineInterpolated($"member node at [bold]{ClusterExtension.Get(system).SelfAddress}[/] for members {string.Join(", ", indices)}; joining {string.Join(", ", seedNodes)}");

        var finished = await ClusterNodes.StartMembers(system, indices, devices);
        await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClusterLeavingReason.Instance);
        foreach (var failure in finished.Failures)
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {failure}");
        if (finished.Completed)
            AnsiConsole.MarkupLineInterpolated($"run completed: {finished.Summary}");
        else if (finished.Summary is not null)
            AnsiConsole.MarkupLineInterpolated($"[red]run failed:[/] {finished.Summary}");
        return finished.Completed ? ExitCodes.Success : ExitCodes.RunFailed;
    }
}
