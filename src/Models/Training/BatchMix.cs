namespace PapaActors.Models.Training;

/// <summary>How a batch was mixed, for the loss and for inspection.</summary>
public sealed record BatchMix(string Kind, double Lambda, (long Top, long Bottom, long Left, long Right)? Box);
