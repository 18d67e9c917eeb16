using Akka.Actor;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Actors.Schedule;

namespace PapaActors.Actors.Replay;

/// <summary>
/// Re-runs a run's schedule from its config.conf and seed, with the real <see cref="AveragerActor"/> and
/// <see cref="ScriptedMember"/>s (no training), and compares every decision, and every Mix the members
/// received, with the run's schedule journal.
/// </summary>
public static class ScheduleReplay
{
    public sealed record Divergence(int Round, string Expected, string Actual)
    {
        public override string ToString() => $"round {Round}: the journal says {Expected}, the replay decides {Actual}";
    }

    /// <summary>The outcome: how many journal rounds were checked, and the first difference if any.</summary>
    public sealed record Report(int RoundsChecked, int RoundsPlanned, bool JournalEnded, string? RunFailure, Divergence? FirstDivergence)
    {
        /// <summary>Every journal round matches and the journal is complete (or records why its run failed).</summary>
        public bool Matches => FirstDivergence is null && (JournalEnded || RunFailure is not null);
    }

    public static async Task<Report> ReplayFolderAsync(string runFolder, TimeSpan timeout)
    {
        var configFile = Path.Combine(runFolder, RunRecorder.ConfigFile);
        if (!File.Exists(configFile))
            throw new JournalException($"{configFile}: not found; is {runFolder} a run folder?");
        var config = PapaConfig.LoadRecorded(configFile);
        var journal = ScheduleJournal.Read(Path.Combine(runFolder, ScheduleJournal.FileName));
        return await ReplayAsync(RunConfig.From(config), journal, timeout);
    }

    public static async Task<Report> ReplayAsync(RunConfig run, ScheduleJournal.Content journal, TimeSpan timeout)
    {
        var settings = run.Settings;
        var plan = SchedulePlan.For(settings, journal.Header.StepsPerEpoch);
        CheckHeader(journal.Header, plan);

        if (journal.Rounds.Count > plan.Rounds.Count)
            return new Report(plan.Rounds.Count, plan.Rounds.Count, journal.Ended, journal.Failure,
                new Divergence(plan.Rounds.Count, Describe(journal.Rounds[plan.Rounds.Count]), "no such round: the schedule ends before it"));
        var replayed = await RunAveragerAsync(run, plan, timeout);
        for (var i = 0; i < journal.Rounds.Count; i++)
        {
            var (expected, actual) = (journal.Rounds[i], replayed.Rounds[i]);
            if (expected != actual)
                return new Report(i, plan.Rounds.Count, journal.Ended, journal.Failure, new Divergence(i, Describe(expected), Describe(actual)));
            var received = replayed.Mixes.Where(m => m.Mix.Round == i).OrderBy(m => m.Member).ToList();
            var mismatch = CheckMixes(actual, received, settings.Population);
            if (mismatch is not null)
                return new Report(i, plan.Rounds.Count, journal.Ended, journal.Failure, new Divergence(i, Describe(expected), mismatch));
        }
        return new Report(journal.Rounds.Count, plan.Rounds.Count, journal.Ended, journal.Failure, null);
    }

    private static void CheckHeader(ScheduleJournal.Header header, SchedulePlan plan)
    {
        void Same<T>(string field, T journal, T config)
        {
            if (!EqualityComparer<T>.Default.Equals(journal, config))
                throw new JournalException($"the journal was written by another configuration: its {field} is {journal}, config.conf gives {config}");
        }
        Same("method", header.Method, plan.Mixing.Method.Name());
        Same("population", header.Population, plan.Population);
        Same("seed", header.Seed, plan.Seed);
        Same("total steps", header.TotalSteps, plan.TotalSteps);
        Same("round count", header.Rounds, plan.Rounds.Count);
        if (plan.Mixing.Method == MixingMethod.Papa2)
            Same("PAPA-2 pairing", header.Pairing, plan.Mixing.Pairing.Name());
    }

    private sealed record Replayed(IReadOnlyList<RoundPlan> Rounds, IReadOnlyList<MixReceived> Mixes);

    private static async Task<Replayed> RunAveragerAsync(RunConfig run, SchedulePlan plan, TimeSpan timeout)
    {
        var settings = run.Settings;
        using var system = new PapaSystemSetup(run.Config) { Logging = SystemLogging.QuietConsole }.Create("replay");
        var done = new TaskCompletionSource<Replayed>(TaskCreationOptions.RunContinuationsAsynchronously);
        var collector = system.ActorOf(Props.Create(() => new Collector(done)));
        var averager = system.ActorOf(AveragerActor.Props(settings, plan, [0], collector), "averager");
        var reducer = system.ActorOf(NodeReducer.Props(), "reducer");
        for (var i = 0; i < settings.Population; i++)
            system.ActorOf(ScriptedMember.Props(i, settings.Population, 1, averager, reducer, collector), $"member-{i}");
        var finished = await Task.WhenAny(done.Task, Task.Delay(timeout));
        await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
        return finished == done.Task
            ? await done.Task
            : throw new TimeoutException($"the replay did not finish within {timeout}");
    }

    /// <summary>Checks that each member received exactly what the decision means for it.</summary>
    private static string? CheckMixes(RoundPlan round, IReadOnlyList<MixReceived> received, int population)
    {
        if (round.Mix is NoMix)
            return received.Count == 0 ? null : $"none, yet {received.Count} member(s) received a Mix";
        if (received.Count != population)
            return $"{Describe(round)}, yet {received.Count} of {population} members received a Mix";
        foreach (var (member, mix) in received)
        {
            var shares = round.Mix.TargetShares(member, population).Select(s => Math.Round(s, 6));
            if (mix.Keep != round.Mix.KeepOf(member) || mix.Parents != round.Mix.ParentsOf(member) || !TracerWeights.Shares(mix.Weights).SequenceEqual(shares))
                return $"{Describe(round)}, yet member {member} received keep={mix.Keep}, shares [{string.Join(", ", TracerWeights.Shares(mix.Weights))}]";
        }
        return null;
    }

    public static string Describe(RoundPlan round) =>
        $"steps {round.FirstStep}..{round.EndStep}, " + round.Mix switch
        {
            PushTowardMean push => $"push keep={push.Keep}",
            ReplaceWithMean => "replace all with the mean",
            ReplaceWithChildren children => "children " + string.Join(" ", children.Parents),
            _ => "no mix",
        };

    /// <summary>Gathers the Averager's round decisions and the mixes members received, until the run ends.</summary>
    private sealed class Collector : ReceiveActor
    {
        public Collector(TaskCompletionSource<Replayed> done)
        {
            var rounds = new List<RoundPlan>();
            var mixes = new List<MixReceived>();
            Receive<RoundCompleted>(r => rounds.Add(r.Plan));
            Receive<MixReceived>(mixes.Add);
            Receive<RunCompleted>(_ => done.TrySetResult(new Replayed(rounds, mixes)));
            Receive<RunFailed>(f => done.TrySetException(new InvalidOperationException($"the replayed run failed: {f.Reason}")));
            Receive<IRunEvent>(_ => { });
        }
    }
}
