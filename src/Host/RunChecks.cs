using Akka.Configuration;
using PapaActors.Actors.Configuration;
using PapaActors.Models;
using PapaActors.Models.Data;
using PapaActors.Models.Training;

namespace PapaActors.Host;

/// <summary>
/// What a run needs from this machine, checked before its folder is made, so a refused run leaves nothing behind:
/// libtorch loads, the devices exist, Akka accepts the log levels, the data is readable with a batch that fits, and
/// the members fit in memory. Each returns the loaded data, which the run then uses.
/// </summary>
internal static class RunChecks
{
    /// <summary>A run whose whole population trains in this process (`papa run`, `papa resume`, `papa sweep`).</summary>
    public static DataSplits Local(RunConfig run)
    {
        var settings = run.Settings;
        TorchRuntime.Configure(TorchRuntime.ThreadsFor(settings.TorchThreads, settings.Population));
        CheckDevices(settings);
        CheckLogLevels(run.Config);
        var data = DataLoading.Load(settings);
        try
        {
            CheckMemory(settings, data);
            return data;
        }
        catch
        {
            data.Dispose();
            throw;
        }
    }

    /// <summary>An averager node: its members train on other nodes, with their own devices and memory.</summary>
    public static DataSplits Averager(RunConfig run)
    {
        TorchRuntime.Configure(Environment.ProcessorCount);
        CheckLogLevels(run.Config);
        return DataLoading.Load(run.Settings);
    }

    private static void CheckDevices(PapaSettings settings)
    {
        foreach (var device in settings.Devices.Distinct())
        {
            try
            {
                Devices.Resolve(device);
            }
            catch (ArgumentException e)
            {
                throw new ConfigException($"'papa.devices': {e.Message}", e);
            }
        }
    }

    /// <summary>The levels Akka parses only when the actor system starts, which is after the run folder is made.</summary>
    private static void CheckLogLevels(Config config)
    {
        foreach (var key in new[] { "akka.loglevel", "akka.stdout-loglevel" })
        {
            var value = config.GetString(key, null);
            if (value is null || value == "OFF")
                continue;
            try
            {
                Akka.Event.Logging.LogLevelFor(value);
            }
            catch (ArgumentException e)
            {
                throw new ConfigException($"'{key}' = '{value}' is not allowed: expected one of DEBUG | INFO | WARNING | ERROR | OFF", e);
            }
        }
    }

    /// <summary>Refuses a population that cannot fit in the memory this process can still use, saying how much it needs.</summary>
    private static void CheckMemory(PapaSettings settings, DataSplits data)
    {
        var member = MemberMemory.Of(settings.Training, data.Shape, data.Classes);
        var needed = member.Bytes * settings.Population;
        var (available, bound) = ProcessMemory.Available();
        if (needed > available)
            throw new ConfigException(
                $"the run needs about {ProcessMemory.Format(needed)} of memory ({settings.Population} members x {ProcessMemory.Format(member.Bytes)}, "
                + $"{settings.Training.Model} at model-width {settings.Training.ModelWidth}, batch-size {settings.Training.BatchSize}) but {ProcessMemory.Format(available)} is left ({bound}); lower papa.population, papa.model-width or papa.batch-size");
    }
}
