using PapaActors.Actors.Configuration;
using PapaActors.Models.Data;

namespace PapaActors.Host;

/// <summary>Loading a run's dataset with the messages a user of `papa` needs.</summary>
internal static class DataLoading
{
    /// <summary>How long reading a dataset may take: a file on a stalled file system must not hang the run.</summary>
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromMinutes(10);

    /// <summary>Loads the run's dataset and checks that one batch fits in its training split.</summary>
    public static DataSplits Load(PapaSettings settings)
    {
        var data = Load(settings.Dataset);
        var samples = data.Train.Count;
        if (samples >= settings.Training.BatchSize)
            return data;
        data.Dispose();
        throw new ConfigException($"'papa.batch-size' = {settings.Training.BatchSize} is too large: the training split has {samples} samples");
    }

    /// <summary>Loads the dataset within <see cref="ReadTimeout"/>, adding how to get Fashion-MNIST when its files are missing.</summary>
    public static DataSplits Load(DatasetSpec spec)
    {
        try
        {
            var reading = Task.Run(() => DatasetLoader.Load(spec));
            return Task.WhenAny(reading, Task.Delay(ReadTimeout)).GetAwaiter().GetResult() == reading
                ? reading.GetAwaiter().GetResult()
                : throw new DatasetFormatException(spec.Path, $"reading the {spec.Name} data took longer than {ReadTimeout.TotalMinutes:0} minutes (a stalled file system?)");
        }
        catch (DatasetFormatException e) when (spec.Name == "fashion-mnist" && !File.Exists(e.Path))
        {
            throw new DatasetFormatException(e.Path, "file not found. Fashion-MNIST comes from the Debian package: apt-get install dataset-fashion-mnist", e);
        }
    }
}
