using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Run;
using PapaActors.Actors.Schedule;
using PapaActors.Actors.Security;
using PapaActors.Actors.Transfer;

namespace PapaActors.Actors.Population;

/// <summary>
/// The actor that runs a <see cref="PopulationRun{TPeer}"/>: it turns the messages it receives (from members, node
/// reducers, member nodes, the recorder, its timers, its soup worker) into the run's inputs, and the run's commands
/// into messages, timers and a <see cref="SoupActor"/>. Every decision is the run's; this class only carries them out.
/// </summary>
public sealed class AveragerActor : BulkReceivingActor, IWithTimers
{
    private readonly PapaSettings _settings;
    private readonly int[] _testLabels;
    private readonly IActorRef _listener;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly StrangerLog _strangers;
    private readonly PopulationRun<IActorRef> _run;
    private IActorRef? _soups;
    private string? _soupFailure;

    public AveragerActor(PapaSettings settings, SchedulePlan plan, int[] testLabels, IActorRef listener, Checkpoint? resumeFrom = null)
    {
        _settings = settings;
        _testLabels = testLabels;
        _listener = listener;
        _strangers = new StrangerLog(_log);
        var environment = new RunEnvironment<IActorRef>(member => member.Path.ToString(), TimeProvider.System,
            () => Process.GetCurrentProcess().PeakWorkingSet64, Random.Shared.NextInt64(1, long.MaxValue / 2),
            ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString());
        _run = new PopulationRun<IActorRef>(settings, plan, testLabels, environment, resumeFrom);
        Receive<RegisterMember>(r => Apply(new Registration<IActorRef>(r.Index, r.Member, r.Reducer, r.LayoutFingerprint)));
        Receive<Terminated>(t => t.ActorRef.Equals(_soups), _ => Apply(new SoupsFailed(_soupFailure ?? "it stopped")));
        Receive<Terminated>(t => Apply(new PeerStopped<IActorRef>(t.ActorRef, Replaceable: t.AddressTerminated || t.ActorRef.Path.Address.HasGlobalScope,
            NodeUnreachable: t.AddressTerminated)));
        // SoupsReady and TimerDue have no wire format: only this process (its soup worker, its timers) can send them.
        Receive<SoupActor.SoupsReady>(s => Apply(new SoupsDone(s)));
        Receive<TimerDue>(due => Apply(due.Input));
        ReceiveAny(message => Apply(new Received<IActorRef>(Sender, message)));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(PapaSettings settings, SchedulePlan plan, int[] testLabels, IActorRef listener, Checkpoint? resumeFrom = null) =>
        Akka.Actor.Props.Create(() => new AveragerActor(settings, plan, testLabels, listener, resumeFrom)).WithDispatcher(ComputeDispatcher.Id);

    protected override void PreStart()
    {
        foreach (var command in _run.Start())
            Carry(command);
    }

    /// <summary>The soup actor's failure ends the run (it is watched); it is never restarted with lost progress.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        _soupFailure = e is ActorInitializationException { InnerException: { } inner } ? inner.Message : $"{e.GetType().Name}: {e.Message}";
        return Directive.Stop;
    });

    private void Apply(RunInput input)
    {
        foreach (var command in _run.Handle(input))
        {
            try
            {
                Carry(command);
            }
            catch (Exception e)
            {
                // Say, a message larger than the transport takes: the run ends with the cause instead of waiting for an answer.
                _log.Error(e, "the averager could not carry out {0}", command.GetType().Name);
                Apply(new CommandFailed($"the averager could not carry out {command.GetType().Name}: {e.GetType().Name}: {e.Message}"));
                return;
            }
        }
    }

    private void Carry(RunCommand command)
    {
        switch (command)
        {
            case Send<IActorRef> send:
                send.To.Tell(send.Message, Self);
                break;
            case Transfer<IActorRef> transfer:
                BulkTransport.For(Context.System).Send(transfer.To, transfer.Message, Self);
                break;
            case Notify notify:
                _listener.Tell(notify.Event);
                break;
            case Watch<IActorRef> watch:
                Context.Watch(watch.Member);
                break;
            case StartTimer timer:
                Timers.StartSingleTimer(timer.Timer, new TimerDue(new TimedOut(timer.Timer, timer.Round)), timer.After);
                break;
            case CancelTimer cancel:
                Timers.Cancel(cancel.Timer);
                break;
            case CancelAllTimers:
                Timers.CancelAll();
                break;
            case StartSoups<IActorRef> soups:
                _soups = Context.ActorOf(SoupActor.Props(soups.Finals, soups.Evaluators, _settings.SoupRecomputesBatchNorm,
                    _settings.Training.Repair.Soups, _testLabels, _settings.AlignSoups ? _settings.Training.Model : null), "soups");
                Context.Watch(_soups);
                break;
            case StopSoups when _soups is not null:
                Context.Unwatch(_soups);
                Context.Stop(_soups);
                _soups = null;
                break;
            case StopSoups:
                break;
            case DropStranger<IActorRef> drop:
                _strangers.Drop(drop.Message, drop.From);
                break;
            case Log log:
                _log.Log(log.Level, null, "{0}", log.Text);
                break;
            default:
                throw new InvalidOperationException($"no way to carry out {command.GetType().Name}");
        }
    }

    private sealed record TimerDue(TimedOut Input) : INoSerializationVerificationNeeded;
}
